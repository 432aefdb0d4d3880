"""gunicorn's gthread worker with time limits on every client connection (deploy/gunicorn.conf.py).

gunicorn's gthread worker gives a new connection a thread while it waits (up to 5 s) for its first bytes, and
from then on reads request headers and bodies on a blocking socket without any timeout: a client
that sends one byte and then nothing, or its headers a byte at a time, holds one of the worker's
threads for as long as it likes, and 16 such clients stop a two-worker server. Here every socket
read and write gives up after ``READ_TIMEOUT`` seconds of silence, and request line plus headers
must have arrived ``HEADER_DEADLINE`` seconds after the request began. The app sets its own
deadline for the bodies it reads whole (admin/kiosk_api/bodies.py). nginx in front does the same
with far less memory per connection; these limits hold when it is bypassed or misconfigured.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

READ_TIMEOUT = float(os.environ.get("GUNICORN_READ_TIMEOUT", 15))
HEADER_DEADLINE = float(os.environ.get("GUNICORN_HEADER_DEADLINE", 10))


class DeadlineSocket(socket.socket):
    """A client socket whose blocking mode has a timeout per read, and whose reads stop at
    ``deadline`` (a time.monotonic() value) when one is set."""

    deadline: float | None = None

    def setblocking(self, flag: bool) -> None:
        if flag:
            # gthread sets blocking mode when a thread takes the connection for a new request.
            self.settimeout(READ_TIMEOUT)
            self.deadline = time.monotonic() + HEADER_DEADLINE
        else:
            super().setblocking(False)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.deadline is None:
            return super().recv(bufsize, flags)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the client did not send its request in time")
        timeout = self.gettimeout()
        self.settimeout(left if timeout is None else min(timeout, left))
        try:
            return super().recv(bufsize, flags)
        finally:
            self.settimeout(timeout)


class DeadlineThreadWorker(ThreadWorker):
    def accept(self, listener: Any) -> None:
        # As ThreadWorker.accept, with the accepted socket made a DeadlineSocket.
        try:
            accepted, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        client = DeadlineSocket(accepted.family, accepted.type, accepted.proto, fileno=accepted.detach())
        self.nr_conns += 1
        conn = TConn(self.cfg, client, address, listener.getsockname())
        # Wait for the first bytes in the poller, as for a kept-alive connection, not in a thread
        # (ThreadWorker gives each new connection a thread for up to 5 s first: 300 idle
        # connections kept all 16 threads of two workers busy).
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(client, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    def handle_request(self, req: Any, conn: TConn) -> Any:
        # The headers are in; the app decides how long a body may take.
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.deadline = None
        return super().handle_request(req, conn)
