"""tus 1.0.0 uploads of answer recordings: core, creation, checksum, termination, expiration.

Kiosks upload with tuspy (any tus 1.0 client works). The views read headers and answer in tus's
terms; the changes are in ``tus_operations``. Every response carries ``Tus-Resumable``; errors
are JSON ``{"error": ...}`` like the rest of the kiosk API, so a client's error shows the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec

from flask import Response, current_app, g, jsonify, make_response, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date

from admin.extensions import db
from admin.kiosk_api import bodies
from admin.kiosk_api import tus_operations as tus
from admin.kiosk_api.auth import bearer_token, current_kiosk, kiosk_required, unauthorized
from admin.kiosk_api.blueprint import bp
from admin.kiosk_api.tus_operations import TusError, purge_expired_uploads
from admin.kiosks.tokens import hash_secret
from admin.models import Upload
from admin.storage import is_disk_full

__all__ = ["purge_expired_uploads"]

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,checksum,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
_DIGITS = re.compile(r"^\d{1,19}$")

P = ParamSpec("P")
# The endpoints of this module, for the after-request hook that marks their responses.
_TUS_ENDPOINTS: set[str] = set()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def tus_endpoint(view: Callable[P, ResponseReturnValue]) -> Callable[P, Response]:
    """Checks the client's tus version and turns refusals into tus answers (JSON errors)."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            # The spec: a server must not process a request of a version it does not speak.
            response = _error(412, f"this server speaks tus {TUS_VERSION}", {"Tus-Version": TUS_VERSION})
        else:
            try:
                response = make_response(view(*args, **kwargs))
            except TusError as exc:
                db.session.rollback()
                response = _error(exc.status, exc.message, exc.headers)
            except HTTPException as exc:  # e.g. a body larger than the request may carry
                db.session.rollback()
                response = _error(exc.code or 400, exc.description or exc.name)
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                # The chunk was cut back to the last offset the kiosk was told (receive_chunk), so
                # it resumes from there once there is room again.
                db.session.rollback()
                current_app.logger.error("media disk full during a kiosk upload: %s", exc)
                response = _error(507, "the server's disk is full; keep the recording and try again later")
        return response

    _TUS_ENDPOINTS.add(f"{bp.name}.{view.__name__}")
    return wrapped


@bp.after_request
def _tus_resumable(response: Response) -> Response:
    # On every tus response, even a 401 from the token check or a 500 from a failure.
    if request.endpoint in _TUS_ENDPOINTS:
        response.headers["Tus-Resumable"] = TUS_VERSION
    return response


def _uint_header(name: str) -> int:
    value = request.headers.get(name, "").strip()
    if not _DIGITS.match(value):
        raise TusError(400, f"{name} must be a non-negative integer")
    return int(value)


def kiosk_and_upload_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """``kiosk_required`` for a request on one upload: the kiosk and its upload in one query.

    A kiosk sends a PATCH per chunk; one round trip to the database less for each is worth it.
    """

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        token = bearer_token()
        row = tus.kiosk_and_upload(hash_secret(token), str(kwargs["upload_id"])) if token else None
        if row is None or row[0].revoked:
            return unauthorized()
        g.kiosk, g.prefetched_upload = row
        return view(*args, **kwargs)

    return wrapped


def _find(upload_id: str) -> Upload:
    """The calling kiosk's upload, or the tus answer for a missing (404) or expired (410) one."""
    # The first look may come with the token check; a look after waiting for the file lock must
    # read again what the previous holder committed.
    upload = g.pop("prefetched_upload", None) or tus.find_upload(current_kiosk(), upload_id)
    if upload is None:
        raise TusError(404, "no such upload")
    if tus.is_expired(upload):
        raise TusError(410, "this upload has expired; start a new one")
    return upload


def _offset_headers(upload: Upload, offset: int) -> dict[str, str]:
    headers = {"Upload-Offset": str(offset), "Cache-Control": "no-store"}
    if upload.completed_at is None:
        headers["Upload-Expires"] = http_date(upload.expires_at)
    return headers


def _no_content(headers: dict[str, str]) -> Response:
    response = make_response("", 204)
    response.headers.update(headers)
    return response


# --- routes --------------------------------------------------------------------------------


@bp.route("/uploads", methods=["OPTIONS"])
@bp.route("/uploads/<upload_id>", methods=["OPTIONS"])
@tus_endpoint
def tus_options(upload_id: str | None = None) -> ResponseReturnValue:
    """What this server speaks; open to anyone, as it says nothing about any upload."""
    return _no_content(
        {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Checksum-Algorithm": ",".join(tus.CHECKSUM_ALGORITHMS),
            "Tus-Max-Size": str(tus.max_upload_bytes()),
        }
    )


@bp.route("/uploads", methods=["POST"], provide_automatic_options=False)
@tus_endpoint
@kiosk_required
def create_upload() -> ResponseReturnValue:
    if "Upload-Defer-Length" in request.headers:
        raise TusError(400, "Upload-Defer-Length is not supported: send Upload-Length")
    length = _uint_header("Upload-Length")
    tus.check_length(length)  # before the metadata: the spec's 413 is about the size alone
    meta = tus.upload_metadata(request.headers.get("Upload-Metadata", ""))
    upload = tus.create_upload(current_kiosk(), length, meta)
    response = make_response("", 201)
    # Relative: tuspy and tus-js-client resolve it against the creation URL, and it stays right
    # behind a reverse proxy whatever host name the kiosk used.
    response.headers["Location"] = url_for("kiosk_api.patch_upload", upload_id=upload.id)
    response.headers["Upload-Expires"] = http_date(upload.expires_at)
    db.session.commit()  # after reading the row: the commit expires it, and reading it again costs a query
    return response


@bp.route("/uploads/<upload_id>", methods=["HEAD"], provide_automatic_options=False)
@tus_endpoint
@kiosk_and_upload_required
def upload_status(upload_id: str) -> ResponseReturnValue:
    return _status(upload_id)


@bp.route("/uploads/<upload_id>", methods=["PATCH"], provide_automatic_options=False)
@tus_endpoint
@kiosk_and_upload_required
def patch_upload(upload_id: str) -> ResponseReturnValue:
    return _patch(upload_id)


@bp.route("/uploads/<upload_id>", methods=["DELETE"], provide_automatic_options=False)
@tus_endpoint
@kiosk_required
def terminate_upload(upload_id: str) -> ResponseReturnValue:
    return _terminate(upload_id)


@bp.route("/uploads/<upload_id>", methods=["POST"], provide_automatic_options=False)
@tus_endpoint
@kiosk_required
def overridden_method(upload_id: str) -> ResponseReturnValue:
    """tus clients behind proxies that drop PATCH or DELETE send POST + X-HTTP-Method-Override."""
    method = request.headers.get("X-HTTP-Method-Override", "").upper()
    handlers = {"PATCH": _patch, "DELETE": _terminate, "HEAD": _status}
    if method not in handlers:
        raise TusError(405, "POST an upload only with X-HTTP-Method-Override: PATCH, DELETE or HEAD")
    return handlers[method](upload_id)


# --- what the routes do --------------------------------------------------------------------


def _status(upload_id: str) -> ResponseReturnValue:
    upload = _find(upload_id)
    offset = upload.length if upload.completed_at is not None else _stored_offset(upload)
    response = make_response("", 200)
    response.headers.update(_offset_headers(upload, offset))
    response.headers["Upload-Length"] = str(upload.length)
    response.headers["Upload-Metadata"] = tus.client_metadata(upload)
    return response


def _stored_offset(upload: Upload) -> int:
    with tus.locked_partial(upload, shared=True) as partial:
        # Under the lock, so the size is never that of a chunk still being written or checked.
        if not partial.removed:
            return partial.size
    upload = _find(upload.id)  # finished or deleted while this request waited for the lock
    if upload.completed_at is None:
        raise TusError(404, "this upload is gone; start a new one")
    return upload.length


def _patch(upload_id: str) -> ResponseReturnValue:
    upload = _find(upload_id)
    if request.mimetype != OFFSET_CONTENT_TYPE:
        raise TusError(415, f"PATCH needs Content-Type: {OFFSET_CONTENT_TYPE}")
    offset = _uint_header("Upload-Offset")
    header = request.headers.get("Upload-Checksum")
    checksum = tus.parse_checksum(header) if header is not None else None
    if upload.completed_at is not None:
        return _patch_finished(upload, offset)
    with tus.locked_partial(upload) as partial:
        if partial.removed:  # finished or deleted while this request waited for the lock
            upload = _find(upload_id)
            if upload.completed_at is None:
                raise TusError(404, "this upload is gone; start a new one")
            return _patch_finished(upload, offset)
        current = partial.size
        if offset != current:
            message = f"Upload-Offset is {offset}, the server has {current}"
            raise TusError(409, message, _offset_headers(upload, current))
        remaining = upload.length - current
        if request.content_length is not None and request.content_length > remaining:
            raise TusError(413, f"this chunk is {request.content_length} bytes; {remaining} are left to send")
        largest = bodies.max_chunk_bytes()  # what nginx lets through in one PATCH, too
        if request.content_length is not None and request.content_length > largest:
            raise TusError(
                413, f"this chunk is {request.content_length} bytes; at most {largest} in one PATCH"
            )
        # Werkzeug then refuses a chunked body that grows past what is left (and our own limit,
        # not the app's MAX_CONTENT_LENGTH, decides how large one PATCH may be).
        request.max_content_length = min(remaining, largest) + 1
        with bodies.read_timeout(float(current_app.config["UPLOAD_READ_TIMEOUT_SECONDS"])):
            received = tus.receive_chunk(
                partial,
                request.stream,
                length=upload.length,
                declared=request.content_length,
                checksum=checksum,
            )
        if received.offset == upload.length:
            try:
                tus.complete_upload(upload, partial, received.whole_sha256)
            except TusError:  # the file is not what was declared: the kiosk must start over
                db.session.rollback()
                tus.delete_upload(upload)
                db.session.commit()
                raise
            except Exception:
                # Something on our side broke (database, disk): take the last chunk back, so the
                # upload does not look complete and the kiosk's resend tries the checks again.
                db.session.rollback()
                if not partial.removed:  # once moved into the store, the bytes are the Media's
                    tus.cut_back(partial, current)
                raise
            headers = _offset_headers(upload, received.offset)  # before the commit expires the row
            # Commit while holding the lock: a request waiting for it must find the upload done.
            db.session.commit()
            tus.discard_partial(upload_id)
            return _no_content(headers)
    return _no_content(_offset_headers(upload, received.offset))


def _patch_finished(upload: Upload, offset: int) -> Response:
    """A finished upload asked again: fine at its end (an empty body), a conflict elsewhere."""
    if offset != upload.length or (request.content_length or 0) > 0:
        raise TusError(409, "this upload is already complete", _offset_headers(upload, upload.length))
    return _no_content(_offset_headers(upload, upload.length))


def _terminate(upload_id: str) -> ResponseReturnValue:
    upload = tus.find_upload(current_kiosk(), upload_id)
    if upload is None:
        raise TusError(404, "no such upload")
    if upload.completed_at is None:
        try:
            with tus.locked_partial(upload):  # not while a PATCH is still writing it
                tus.delete_upload(upload)
        except TusError as exc:
            if exc.status != 404:
                raise
            tus.delete_upload(upload)  # the file was already gone; the row goes too
    else:
        tus.delete_upload(upload)
    db.session.commit()
    return _no_content({})
