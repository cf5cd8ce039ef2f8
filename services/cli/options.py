"""Options every long-running service shares, declared once so they read the same everywhere."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["idle_exit_option", "log_json_option", "metrics_options", "serve_metrics"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: Exit when idle: for tests, demos and batch jobs; services run until SIGTERM otherwise.
idle_exit_option = click.option(
    "--idle-exit", type=float, default=None, help="Exit after this many seconds without messages."
)
log_json_option = click.option(
    "--log-json/--no-log-json", default=True, show_default=True, help="JSON log lines."
)


def metrics_options(default_port: int) -> Callable[[F], F]:
    """``--metrics-port`` (each service has its own default) and ``--metrics-host``."""

    def decorate(command: F) -> F:
        command = click.option(
            "--metrics-host",
            default="127.0.0.1",
            show_default=True,
            help="Address for the metrics endpoint (0.0.0.0 in a container).",
        )(command)
        return click.option(
            "--metrics-port",
            default=default_port,
            show_default=True,
            help="Prometheus port (0 = off).",
        )(command)

    return decorate


def serve_metrics(port: int, host: str) -> None:
    """Start the Prometheus endpoint (port 0 = off).

    A port already taken (a second process of the same service on one host)
    is logged and the service runs on: metrics are not worth stopping work for.
    """
    if not port:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics endpoint %s:%d unavailable (%s)", host, port, exc)
