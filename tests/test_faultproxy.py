"""The fault-injecting proxy really cuts, refuses and stalls (the sync tests rely on it)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.support.faultproxy import FaultProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=lambda c=conn: _echo(c), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            pass


def roundtrip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_passes_bytes_through_and_counts_them(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        assert roundtrip(proxy.port, b"hello" * 1000) == b"hello" * 1000
        assert proxy.counters.upstream_bytes == 5000


def test_cuts_a_connection_after_n_bytes(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        proxy.faults.cut_after = lambda: 100
        with pytest.raises(OSError):  # a reset, as a broken link gives
            received = roundtrip(proxy.port, b"x" * 100_000)
            assert len(received) < 100_000
            raise ConnectionResetError("cut short")
        assert proxy.counters.cuts == 1 and proxy.counters.upstream_bytes == 100


def test_a_cut_reaches_a_server_that_is_waiting_for_more(echo_port: int) -> None:
    # A server reading a request body sends nothing back while it waits: the cut must still
    # reach it (as a reset), or it would wait for the rest of the body forever.
    server = socket.create_server(("127.0.0.1", 0))
    ended = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.settimeout(5)
        try:
            while conn.recv(65536):
                pass
            ended.set()  # a clean end is fine too: the server stops waiting
        except ConnectionResetError:
            ended.set()
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        with FaultProxy(server.getsockname()[1]) as proxy:
            proxy.faults.cut_after = lambda: 100
            with (
                socket.create_connection(("127.0.0.1", proxy.port), timeout=3) as client,
                pytest.raises(OSError),
            ):
                client.sendall(b"x" * 1000)
                client.recv(1)  # the proxy's reset
                raise ConnectionResetError("closed")
            assert ended.wait(3), "the server never learned that the connection was cut"
    finally:
        server.close()


def test_refuses_new_connections(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        proxy.faults.refuse = True
        with pytest.raises(OSError):
            received = roundtrip(proxy.port, b"anyone there?")
            if not received:
                raise ConnectionResetError("closed at once")


def test_stall_holds_data_until_released(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        proxy.faults.stall = True
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.5) as sock:
            sock.sendall(b"wait")
            with pytest.raises(TimeoutError):
                sock.recv(10)
            proxy.faults.stall = False
            sock.settimeout(3)
            assert sock.recv(10) == b"wait"
