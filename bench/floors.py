"""Floors for bench_sync.py: the least a server on this stack can do, to measure ours against.

One WSGI app, served by gunicorn with the admin's own settings (``deploy/gunicorn.conf.py``), with
no Flask, no SQLAlchemy, no authentication and no rate limits:

- ``/files``: tus core and creation doing only the work the issue makes mandatory per upload:
  the chunk's ``Upload-Checksum`` checked, the bytes fsynced before the offset is answered, the
  whole file's sha256 read and compared once its last byte is in (as ours does), the finished file
  opened as video (``admin.mediacheck.inspect_video``).
  The offset is the file's size; there is no locking and no database.
- ``/empty/<anything>``: reads the body and answers 201: the HTTP cost alone.
- ``/insert/<uuid>``: parses the JSON body and inserts it with psycopg, one ``INSERT … ON
  CONFLICT DO NOTHING`` committed per request (table ``floor_sessions``, made by the benchmark
  before the server starts): the least a durable ingest costs.

``FLOOR_DIR`` holds the tus files; ``DATABASE_URL`` names the PostgreSQL database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psycopg

from admin.mediacheck import RECORDING_LIMITS, inspect_video
from durable import file_sha256

BLOCK = 1024 * 1024
TUS = [("Tus-Resumable", "1.0.0")]
_connections = threading.local()

StartResponse = Callable[..., Any]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path: str = environ["PATH_INFO"]
    if path.startswith("/files"):
        return _tus(environ, start_response)
    if path.startswith("/empty/"):
        _body(environ)
        return _answer(start_response, "201 Created", b"{}")
    if path.startswith("/insert/"):
        return _insert(environ, start_response, path.rsplit("/", 1)[1])
    return _answer(start_response, "404 Not Found")


def _answer(
    start_response: StartResponse, status: str, body: bytes = b"", headers: list[Any] | None = None
) -> list[bytes]:
    start_response(status, [*(headers or []), ("Content-Length", str(len(body)))])
    return [body]


def _body(environ: dict[str, Any]) -> bytes:
    return bytes(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))


def _insert(environ: dict[str, Any], start_response: StartResponse, session_uuid: str) -> list[bytes]:
    body = json.loads(_body(environ))
    connection = getattr(_connections, "connection", None)
    if connection is None:
        url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        connection = _connections.connection = psycopg.connect(url)
    with connection.transaction():
        connection.execute(
            "INSERT INTO floor_sessions (uuid, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (session_uuid, json.dumps(body)),
        )
    return _answer(start_response, "201 Created", b"{}")


# --- tus -----------------------------------------------------------------------------------


def _file(environ: dict[str, Any]) -> Path:
    return Path(os.environ["FLOOR_DIR"]) / str(uuid.UUID(environ["PATH_INFO"].rsplit("/", 1)[1]))


def _tus(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    method = environ["REQUEST_METHOD"]
    if method == "POST":
        name = uuid.uuid4()
        path = Path(os.environ["FLOOR_DIR"]) / str(name)
        path.write_bytes(b"")
        metadata = dict(item.split(" ") for item in environ.get("HTTP_UPLOAD_METADATA", "").split(","))
        declared = base64.b64decode(metadata["sha256"]).decode()
        path.with_suffix(".meta").write_text(f"{environ['HTTP_UPLOAD_LENGTH']} {declared}")
        return _answer(start_response, "201 Created", headers=[*TUS, ("Location", f"/files/{name}")])
    path = _file(environ)
    if method == "HEAD":
        return _answer(start_response, "200 OK", headers=[*TUS, ("Upload-Offset", str(path.stat().st_size))])
    if method != "PATCH":
        return _answer(start_response, "405 Method Not Allowed", headers=TUS)
    length, declared = path.with_suffix(".meta").read_text().split()
    algorithm, digest = environ["HTTP_UPLOAD_CHECKSUM"].split(" ")
    chunk_hasher = hashlib.new(algorithm)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        start = os.fstat(fd).st_size
        if int(environ["HTTP_UPLOAD_OFFSET"]) != start:
            return _answer(start_response, "409 Conflict", headers=TUS)
        left = int(environ["CONTENT_LENGTH"])
        stream = environ["wsgi.input"]
        while left:
            data = stream.read(min(left, BLOCK))
            if not data:
                break
            chunk_hasher.update(data)
            os.write(fd, data)
            left -= len(data)
        if chunk_hasher.digest() != base64.b64decode(digest):
            os.ftruncate(fd, start)
            return _answer(start_response, "460 Checksum Mismatch", headers=TUS)
        os.fdatasync(fd)
        offset = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if offset == int(length):
        if file_sha256(path)[0] != declared:
            return _answer(start_response, "460 Checksum Mismatch", headers=TUS)
        inspect_video(path, RECORDING_LIMITS)
    return _answer(start_response, "204 No Content", headers=[*TUS, ("Upload-Offset", str(offset))])
