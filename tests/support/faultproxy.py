"""A fault-injecting TCP proxy on 127.0.0.1, between a kiosk and the admin server.

The kernel here has no netem, so faults are made in user space: cut a connection after N bytes
(both directions reset), stall (hold the connection, forward nothing), refuse new connections,
and throttle to a link rate. It counts the bytes it forwarded to the server, so a test can tell
how much was sent again after an interruption.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self


@dataclass
class Faults:
    refuse: bool = False  # new connections are closed at once
    stall: bool = False  # connections stay open but nothing moves
    cut_after: Callable[[], int | None] = lambda: None  # bytes upstream before this connection is reset
    rate_bytes_per_second: float | None = None  # both directions, per connection


@dataclass
class Counters:
    upstream_bytes: int = 0
    downstream_bytes: int = 0
    connections: int = 0
    cuts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, upstream: bool, count: int) -> None:
        with self.lock:
            if upstream:
                self.upstream_bytes += count
            else:
                self.downstream_bytes += count


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.faults = Faults()
        self.counters = Counters()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # so the accept loop notices close()
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def cut_at_random(self, rng: random.Random, low: int, high: int) -> None:
        """Reset each new connection after a random number of upstream bytes in [low, high]."""
        self.faults.cut_after = lambda: rng.randint(low, high)

    def no_faults(self) -> None:
        self.faults = Faults(rate_bytes_per_second=self.faults.rate_bytes_per_second)

    def reset_all(self) -> None:
        """Cut every open connection now, as a dropped Wi-Fi would."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _reset(sock)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self.reset_all()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if self.faults.refuse:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self.counters.lock:
                self.counters.connections += 1
            with self._lock:
                self._sockets.update((client, server))
            budget = self.faults.cut_after()
            state = {"left": budget}
            for source, target, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump, args=(source, target, upstream, state), daemon=True
                ).start()

    def _pump(
        self, source: socket.socket, target: socket.socket, upstream: bool, state: dict[str, int | None]
    ) -> None:
        broken = False
        try:
            while not self._stop.is_set():
                data = source.recv(64 * 1024)
                if not data:
                    break
                while self.faults.stall and not self._stop.is_set():
                    time.sleep(0.05)
                if upstream and state["left"] is not None:
                    left = state["left"]
                    if len(data) >= left:
                        if left:
                            target.sendall(data[:left])
                            self.counters.add(True, left)
                        with self.counters.lock:
                            self.counters.cuts += 1
                        broken = True
                        break
                    state["left"] = left - len(data)
                self._throttled_send(target, data)
                self.counters.add(upstream, len(data))
        except OSError:
            broken = True
        if broken:
            # Cut or failed: reset both sides, so neither waits for the other.
            self._forget(source, target)
            _reset(source)
            _reset(target)
            return
        # A clean end of one direction: pass it on, and close once both directions ended.
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with self._lock:
            state["ended"] = (state.get("ended") or 0) + 1
            both = state["ended"] == 2
        if both:
            self._forget(source, target)
            source.close()
            target.close()

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                self._sockets.discard(sock)

    def _throttled_send(self, target: socket.socket, data: bytes) -> None:
        rate = self.faults.rate_bytes_per_second
        if not rate:
            target.sendall(data)
            return
        # Small slices keep the pacing smooth, like a real link.
        slice_size = max(1024, int(rate / 100))
        for start in range(0, len(data), slice_size):
            piece = data[start : start + slice_size]
            began = time.perf_counter()
            target.sendall(piece)
            spare = len(piece) / rate - (time.perf_counter() - began)
            if spare > 0:
                time.sleep(spare)


def _reset(sock: socket.socket) -> None:
    # SO_LINGER 0 makes close() send a reset, like a connection that really broke.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # close() alone sends nothing while the other pump thread still waits in recv() on this
    # socket (the kernel keeps it open for that call): the far end would wait forever, e.g. a
    # server holding an upload's lock. shutdown(SHUT_RD) puts nothing on the wire but wakes that
    # recv(); once it returns, the last reference goes and the reset is sent.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()
