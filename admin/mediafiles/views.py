from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, send_file
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import select, union

from admin.auth import user_sees_branch
from admin.extensions import db
from admin.mediafiles.operations import ensure_poster
from admin.models import Answer, Kiosk, Media
from admin.storage import SHA256_PATTERN, media_store, relative_path

bp = Blueprint("mediafiles", __name__)


@bp.get("/media/<sha256>")
@login_required
def serve(sha256: str) -> ResponseReturnValue:
    if not SHA256_PATTERN.match(sha256):
        abort(404)
    media, recording = _visible(sha256)
    if not media_store().exists(sha256):
        abort(404)
    return send_media(media, recording=recording)


@bp.get("/media/<sha256>/poster")
@login_required
def poster(sha256: str) -> ResponseReturnValue:
    """The poster frame of a video; a visitor's recording gets one the first time staff look."""
    if not SHA256_PATTERN.match(sha256):
        abort(404)
    media, recording = _visible(sha256)
    frame = ensure_poster(media) or abort(404)
    db.session.commit()
    if not media_store().exists(frame.sha256):
        abort(404)
    return send_media(frame, recording=recording)


def _visible(sha256: str) -> tuple[Media, bool]:
    """The media row, unless it is (the poster of) a recording made in a branch the user may not see;
    and whether it is (the poster of) a visitor's recording."""
    media = db.session.get(Media, sha256) or abort(404)
    # A visitor's recording, and its poster frame, are seen only by staff of the branch where it was made.
    recording = select(Answer.branch_id).where(Answer.media_sha256 == sha256)
    poster_of = (
        select(Answer.branch_id)
        .join(Media, Media.sha256 == Answer.media_sha256)
        .where(Media.poster_sha256 == sha256)
    )
    branches = list(db.session.scalars(union(recording, poster_of)))
    if not branches and media.is_recording:
        # Uploaded, not yet in a session (or never to be): only the uploading kiosk's branch.
        kiosk = db.session.get(Kiosk, media.kiosk_id) if media.kiosk_id is not None else None
        branches = [kiosk.branch_id] if kiosk is not None else []
        if not branches:
            abort(404)
    if branches and not any(user_sees_branch(current_user, b) for b in branches):
        abort(404)
    return media, bool(branches)


# A stored file is never a page: nothing in it runs, even when it is opened on its own (an SVG with a
# script). nginx sends the same header for the files it serves (deploy/nginx).
MEDIA_CSP = "default-src 'none'; object-src 'none'; frame-ancestors 'none'; sandbox"


def send_media(media: Media, recording: bool = False) -> Response:
    """The file itself, with Range requests; or, behind nginx, a pointer nginx serves from disk.

    A visitor's recording is never kept in a browser's cache: after sign-out or erasure it must be gone.
    One range per request: several ranges in one (multi-range) get 416, as the kiosk API says too.
    """
    cache = "private, no-store" if recording else "private, max-age=3600"
    sha256 = media.sha256
    store = media_store()
    accel = current_app.config.get("MEDIA_ACCEL_REDIRECT")
    if accel:
        response = Response(status=200, mimetype=media.content_type)
        response.headers["X-Accel-Redirect"] = accel.rstrip("/") + "/" + relative_path(sha256)
        response.headers["Cache-Control"] = cache
        return response
    response = send_file(
        store.path(sha256),
        mimetype=media.content_type,
        conditional=True,
        etag=sha256,
        max_age=None if recording else 3600,
    )
    response.headers["Cache-Control"] = cache
    response.headers["Content-Security-Policy"] = MEDIA_CSP
    return response
