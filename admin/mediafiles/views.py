from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, send_file
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import select

from admin.auth import user_sees_branch
from admin.extensions import db
from admin.models import Answer, Media
from admin.storage import SHA256_PATTERN, media_store, relative_path

bp = Blueprint("mediafiles", __name__)


@bp.get("/media/<sha256>")
@login_required
def serve(sha256: str) -> ResponseReturnValue:
    if not SHA256_PATTERN.match(sha256):
        abort(404)
    media = db.session.get(Media, sha256) or abort(404)
    # A visitor's recording is seen only by staff of the branch where it was made.
    branches = db.session.scalars(
        select(Answer.branch_id).where(Answer.media_sha256 == sha256).distinct()
    ).all()
    if branches and not any(user_sees_branch(current_user, b) for b in branches):
        abort(404)
    store = media_store()
    if not store.exists(sha256):
        abort(404)
    return send_media(media)


def send_media(media: Media) -> Response:
    """The file itself, with Range requests; or, behind nginx, a pointer nginx serves from disk."""
    sha256 = media.sha256
    store = media_store()
    accel = current_app.config.get("MEDIA_ACCEL_REDIRECT")
    if accel:
        response = Response(status=200, mimetype=media.content_type)
        response.headers["X-Accel-Redirect"] = accel.rstrip("/") + "/" + relative_path(sha256)
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response
    response = send_file(
        store.path(sha256),
        mimetype=media.content_type,
        conditional=True,
        etag=sha256,
        max_age=3600,
    )
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
