"""``fraudstream run review`` as one process: the web app, the ingest consumer, the publisher.

Three threads share one ``ReviewStore``:

* the ingest consumer (this thread) runs until stopped (or idle, for tests);
* uvicorn serves the API and the pages on a socket bound before anything else
  starts, so a taken port is one clear error and port 0 picks a free one;
* the outbox publisher sends verdict labels, woken by each verdict.

SIGTERM / Ctrl-C set the stop flag: the consumer finishes its batch and commits,
the server stops taking requests and finishes those in flight, the publisher
sends what is left, and the process exits 0.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass

from contracts.settings import Settings
from services.exceptions import ServiceError
from services.kafka.clients import make_producer
from services.review.consumer import build_ingest
from services.review.publisher import OutboxPublisher
from services.review.store import ReviewStore
from services.review.tokens import TokenSigner, load_secret_key
from services.review.web import create_app
from services.review.web.auth import ReviewContext
from services.stream.batch_consumer import LoopStats
from services.stream.shutdown import StopFlag

__all__ = ["ReviewService", "ReviewServiceConfig", "ReviewServiceStats", "bind_socket"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReviewServiceConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    group_id: str = "fraudstream-review"
    max_batch: int = 500
    max_wait_ms: int = 50


@dataclass(frozen=True)
class ReviewServiceStats:
    consumed: LoopStats
    written: dict[str, int]
    labels_sent: int


class ReviewService:
    """Built from settings (connects the store, binds the port); ``run`` serves until stopped."""

    def __init__(
        self, settings: Settings, config: ReviewServiceConfig, *, stop: StopFlag | None = None
    ) -> None:
        self.stop = stop or StopFlag()
        self.store = ReviewStore.from_settings(settings)
        signer = TokenSigner(load_secret_key(settings), settings.review.token_ttl_s)
        self.publisher = OutboxPublisher(
            self.store,
            make_producer(settings.kafka),
            settings.kafka.topics.labels,
            make_producer=lambda: make_producer(settings.kafka),
        )
        self.app = create_app(
            ReviewContext(
                store=self.store,
                signer=signer,
                page_size=settings.review.page_size,
                cookie_secure=settings.review.cookie_secure,
                on_verdict=self.publisher.wake,
            )
        )
        self.ingest, self.handler = build_ingest(
            settings,
            self.store,
            group_id=config.group_id,
            max_batch=config.max_batch,
            max_wait_ms=config.max_wait_ms,
            stop=self.stop,
        )
        self._socket = bind_socket(config.host, config.port)

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def run(self, *, idle_exit_s: float | None = None) -> ReviewServiceStats:
        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        )
        web = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="review-web"
        )
        publisher = threading.Thread(
            target=self.publisher.run, args=(self.stop,), name="review-publisher"
        )
        web.start()
        publisher.start()
        try:
            consumed = self.ingest.run(idle_exit_s=idle_exit_s)
        finally:
            self.stop.set()
            self.publisher.wake()
            server.should_exit = True
            web.join(timeout=15)
            publisher.join(timeout=30)
            self._socket.close()
            for producer in (self.publisher.producer, self.ingest.producer):
                producer.flush(10)
                producer.close()
            self.store.close()
        return ReviewServiceStats(consumed, dict(self.handler.written), self.publisher.sent)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0 = any free port), or one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets
    # that say so, and without it every kept-alive response waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(f"review: cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
