"""The local stack's port probe: a port is free unless something listens on it."""

from __future__ import annotations

import socket

from services.stack.ports import LOOPBACK, choose_port, port_is_free


def test_a_port_with_only_closed_connections_left_is_free_again() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((LOOPBACK, 0))
    server.listen()
    port = server.getsockname()[1]
    assert not port_is_free(port)  # listening
    client = socket.create_connection((LOOPBACK, port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end waits in TIME_WAIT
    client.close()
    server.close()
    # The stopped server's port: it used to read as taken, and the stack moved.
    assert port_is_free(port)
    assert choose_port(port) == port


def test_only_the_process_holding_the_listener_counts_as_listening() -> None:
    # `stack up` took a port probe answered by another stack's server for its own.
    import os

    from services.stack.readiness import listens_on

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind((LOOPBACK, 0))
        server.listen()
        port = server.getsockname()[1]
        assert listens_on(os.getpid(), port)
        assert not listens_on(os.getppid(), port)
