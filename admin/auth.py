"""Who may see what: loading the signed-in user, role checks, and branch scoping."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import ColumnElement, true

from admin.extensions import db, login_manager
from admin.models import Role, User

P = ParamSpec("P")
R = TypeVar("R")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The id carries the session version, so a password change or disabling ends old sessions.
    try:
        raw_id, raw_version = user_id.split(":")
        user = db.session.get(User, int(raw_id))
    except ValueError:
        return None
    if user is None or not user.active or str(user.session_version) != raw_version:
        return None
    return user


def roles_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Only users with one of ``roles``; others get 404 so they learn nothing of what exists."""

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        @login_required
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if current_user.role not in roles:
                abort(404)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


admin_required = roles_required(Role.ADMIN)


def user_sees_branch(user: User, branch_id: int) -> bool:
    return user.is_admin or branch_id in user.branch_ids()


def branch_filter(user: User, column: ColumnElement[int]) -> ColumnElement[bool]:
    """A WHERE clause that keeps only rows of the branches ``user`` may see."""
    if user.is_admin:
        return true()
    return column.in_(user.branch_ids())
