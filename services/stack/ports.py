"""Loopback port selection: the preferred port when it is free, else any free one."""

from __future__ import annotations

import socket

__all__ = ["LOOPBACK", "choose_port", "free_port", "port_is_free", "port_accepts"]

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could bind ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As redis-server and tansu bind: connections left in TIME_WAIT by a
        # server that just stopped do not keep it from its port (without this the
        # restarted stack moved to another port, stranding clients of stack.toml).
        # A port with a live listener still refuses the bind.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    """A port the kernel considers free now (another process may still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def choose_port(preferred: int, host: str = LOOPBACK) -> int:
    """``preferred`` if it is free, else a free port; 0 means "any free port"."""
    if preferred and port_is_free(preferred, host):
        return preferred
    return free_port(host)


def port_accepts(port: int, host: str = LOOPBACK, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
