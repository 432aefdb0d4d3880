"""Changes to accounts. Views and CLI call these; the caller commits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import func, select

from admin import audit
from admin.extensions import db
from admin.models import Branch, Role, User, utcnow

MIN_PASSWORD_LENGTH = 10
FREE_ATTEMPTS = 5  # wrong passwords in a row before each further attempt must wait
MAX_LOCK = timedelta(minutes=15)

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("no such user, but take as long as if there were")


class AccountError(ValueError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("A password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))


def create_user(email: str, password: str, role: Role, branches: list[Branch], locale: str = "nl") -> User:
    email = normalise_email(email)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise AccountError(_("%(email)s is not an e-mail address.", email=email))
    if find_user(email):
        raise AccountError(_("There is already an account for %(email)s.", email=email))
    check_password_rules(password)
    if role is not Role.ADMIN and not branches:
        raise AccountError(_("Staff and viewers need at least one branch."))
    user = User(
        email=email,
        password_hash=_hasher.hash(password),
        role=role,
        locale=locale,
        branches=list(branches),
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", f"user:{user.id}", email=email, role=role.value)
    return user


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    wait_seconds: int = 0  # > 0: too many wrong passwords; try again after this


def authenticate(email: str, password: str, now: datetime | None = None) -> LoginResult:
    """Check a password, slowing down an account after repeated wrong ones."""
    now = now or utcnow()
    user = find_user(email)
    if user is None:
        _verify(_DUMMY_HASH, password)
        return LoginResult(None)
    if user.locked_until and user.locked_until > now:
        return LoginResult(None, wait_seconds=math.ceil((user.locked_until - now).total_seconds()))
    if not user.active or not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= FREE_ATTEMPTS:
            lock = timedelta(seconds=30 * 2 ** (user.failed_logins - FREE_ATTEMPTS))
            user.locked_until = now + min(lock, MAX_LOCK)
        audit.record("login.failed", f"user:{user.id}", actor=user, attempts=user.failed_logins)
        return LoginResult(None)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return LoginResult(user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(user: User, current: str, new: str) -> None:
    if not _verify(user.password_hash, current):
        raise AccountError(_("The current password is not right."))
    set_password(user, new)


def set_password(user: User, new: str) -> None:
    check_password_rules(new)
    user.password_hash = _hasher.hash(new)
    user.session_version += 1  # ends every other session of this user
    audit.record("user.password", f"user:{user.id}")


def update_user(user: User, role: Role, branches: list[Branch], active: bool, locale: str) -> None:
    if role is not Role.ADMIN and not branches:
        raise AccountError(_("Staff and viewers need at least one branch."))
    if user.role is Role.ADMIN and (role is not Role.ADMIN or not active) and _last_admin(user):
        raise AccountError(_("This is the last active admin; make another admin first."))
    if user.active and not active:
        user.session_version += 1
    user.role, user.branches, user.active, user.locale = role, list(branches), active, locale
    audit.record(
        "user.update",
        f"user:{user.id}",
        role=role.value,
        active=active,
        branches=[b.name for b in branches],
    )


def _last_admin(user: User) -> bool:
    admins = db.session.scalar(
        select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active)
    )
    return user.active and admins == 1
