"""Wait until a freshly started server answers, or explain from its log why not."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import redis

from contracts.settings import KafkaSettings
from services.exceptions import KafkaError, StackError
from services.kafka.admin import list_topics
from services.stack.daemon import Daemon
from services.stack.ports import LOOPBACK, port_accepts

__all__ = ["PortTakenError", "broker_answers", "listens_on", "redis_answers", "wait_until_ready"]

# tansu: "AddrInUse" / "Address in use"; redis: "bind: Address already in use".
_ADDRESS_IN_USE = re.compile(r"AddrInUse|address (already )?in use", re.IGNORECASE)


class PortTakenError(StackError):
    """The server exited because another process bound its port first (a race we retry)."""


def broker_answers(port: int) -> bool:
    """Whether a Kafka-protocol broker on ``port`` answers a metadata request."""
    try:
        list_topics(KafkaSettings(bootstrap_servers=f"{LOOPBACK}:{port}"), timeout_s=2.0)
    except KafkaError:
        return False
    return True


def redis_answers(port: int) -> bool:
    """Whether a Redis server on ``port`` answers PING."""
    client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on loopback ``port`` (Linux
    procfs; True where it cannot be told, so elsewhere the probe alone decides)."""
    proc = Path("/proc")
    inodes: set[str] = set()
    tables = 0
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text(encoding="utf-8").splitlines()[1:]
        except OSError:
            continue  # (tcp6 is absent on a host without IPv6)
        tables += 1
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if tables == 0:
        return True  # no procfs tables: the probe alone decides
    try:
        descriptors = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return True  # not allowed to look
    for descriptor in descriptors:
        try:
            if os.readlink(descriptor) in inodes:
                return True
        except OSError:
            continue
    return False


def wait_until_ready(
    daemon: Daemon, port: int, answers: Callable[[int], bool], *, timeout_s: float
) -> None:
    """Poll until ``answers(port)``; fail fast if the process dies meanwhile.

    The TCP probe comes first so the protocol client is only created once
    something listens (librdkafka would otherwise log every refused connection).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        record = daemon.running()
        if record is None:
            tail = daemon.log_tail()
            if _ADDRESS_IN_USE.search(tail):
                raise PortTakenError(f"{daemon.name}: port {port} was taken by another process")
            raise StackError(
                f"{daemon.name} exited during start-up; the end of {daemon.log_file}:\n{tail}"
            )
        # Whoever answers must be our process: another stack's server on the same
        # port (ours still starting, or about to fail to bind) would otherwise be
        # announced in our stack.toml, and our tests would write into its broker.
        if port_accepts(port) and listens_on(record.pid, port) and answers(port):
            return
        if time.monotonic() >= deadline:
            raise StackError(
                f"{daemon.name} did not answer on {LOOPBACK}:{port} within {timeout_s:.0f} s; "
                f"the end of {daemon.log_file}:\n{daemon.log_tail()}"
            )
        time.sleep(0.05)
