"""The plain-HTTP-PUT baseline of bench_sync.py: a WSGI app that stores one PUT body and says 201.

It does what any upload endpoint must and nothing more: read the body in 1 MiB blocks, write it
to a file, fsync, answer. No protocol, no database, no checks. Served by gunicorn with the admin's
own settings (``deploy/gunicorn.conf.py``), so both sides of the comparison run on the same server:
``gunicorn -c deploy/gunicorn.conf.py --pythonpath bench plain_put:application``.
Files land in ``$PLAIN_PUT_DIR`` (a temporary folder the benchmark removes).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

BLOCK = 1024 * 1024


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] != "PUT":
        start_response("405 Method Not Allowed", [("Content-Length", "0"), ("Allow", "PUT")])
        return [b""]
    left = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    fd, _ = tempfile.mkstemp(dir=os.environ.get("PLAIN_PUT_DIR"), suffix=".put")
    with os.fdopen(fd, "wb") as out:
        while left > 0:
            data = stream.read(min(BLOCK, left))
            if not data:
                break
            out.write(data)
            left -= len(data)
        out.flush()
        os.fsync(out.fileno())
    status = "201 Created" if left == 0 else "400 Bad Request"
    start_response(status, [("Content-Length", "0")])
    return [b""]
