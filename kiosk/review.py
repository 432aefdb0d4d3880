"""The visitor's playback of a sealed recording, before choosing send, record again or throw away.

A sealed recording (:mod:`mediaseal`) opens with the server's private key, which the kiosk never
has, or with the recording's own key. The kiosk service keeps that own key here, in its memory
only, while the visitor may still play the recording back; it forgets it as soon as the answer is
sent or thrown away, the session ends, or the service stops. From then on the file on the SD card
is unreadable on the kiosk, and a crash cannot leak a key that was never written down.

Playback decrypts on the fly, chunk by chunk, with Range requests (the ``<video>`` element seeks
and asks for byte ranges; each maps onto the one or two chunks it touches).
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

from flask import Request, Response
from werkzeug.wsgi import wrap_file

import mediaseal


class ReviewKeys:
    """recording uuid → the recording's own key, for the recordings under review. Thread-safe."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def keep(self, recording_uuid: str, key: bytes) -> None:
        with self._lock:
            self._keys[recording_uuid] = key

    def get(self, recording_uuid: str) -> bytes | None:
        with self._lock:
            return self._keys.get(recording_uuid)

    def forget(self, recording_uuid: object) -> None:
        """Forget a recording's key (anything else, e.g. a bad id from the page, is ignored)."""
        with self._lock:
            self._keys.pop(str(recording_uuid), None)

    def forget_all(self) -> None:
        with self._lock:
            self._keys.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)


def sealed_media(request: Request, path: Path, key: bytes, mimetype: str) -> Response:
    """The plaintext of a sealed file as a response with Range support, decrypted while sent."""
    source = path.open("rb")
    try:
        reader = mediaseal.SealedReader(source, key)
    except mediaseal.SealError as error:
        source.close()
        message = json.dumps({"error": f"this recording is damaged: {error}"})
        return Response(message, 410, mimetype="application/json")
    except BaseException:
        source.close()
        raise
    try:
        size = reader.size
        buffered = io.BufferedReader(reader, mediaseal.CHUNK_SIZE)
        response = Response(wrap_file(request.environ, buffered), mimetype=mimetype, direct_passthrough=True)
    except BaseException:
        reader.close()
        raise
    response.content_length = size
    return response.make_conditional(request, accept_ranges=True, complete_length=size)
