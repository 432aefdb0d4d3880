"""Kiosk bearer tokens: made at enrollment, shown once, stored as sha256, revocable."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import bindparam, select

from admin.extensions import db
from admin.kiosks.tokens import hash_secret
from admin.models import Kiosk

P = ParamSpec("P")
R = TypeVar("R")


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# Built once: every kiosk request runs it, and building a statement costs more than running it.
_BY_TOKEN = select(Kiosk).where(Kiosk.token_hash == bindparam("token_hash"))


def kiosk_from_request() -> Kiosk | None:
    token = bearer_token()
    if token is None:
        return None
    kiosk = db.session.scalar(_BY_TOKEN, {"token_hash": hash_secret(token)})
    if kiosk is None or kiosk.revoked:
        return None
    return kiosk


def unauthorized() -> ResponseReturnValue:
    response = jsonify({"error": "unknown or revoked kiosk token"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="vertelpaal-kiosk"'
    return response


def kiosk_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Only for a kiosk with a valid token; the kiosk is in ``g.kiosk``. Others get 401."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        kiosk = kiosk_from_request()
        if kiosk is None:
            return unauthorized()
        g.kiosk = kiosk
        return view(*args, **kwargs)

    return wrapped


def current_kiosk() -> Kiosk:
    kiosk: Kiosk = g.kiosk
    return kiosk
