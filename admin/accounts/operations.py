"""Changes to accounts. Views and CLI call these; the caller commits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from admin import audit
from admin.accounts import passwords, signin_limits, two_step
from admin.extensions import db
from admin.models import Branch, Role, User, utcnow

MIN_PASSWORD_LENGTH = 10
FREE_ATTEMPTS = 5  # wrong two-step codes in a row before each further attempt must wait
MAX_LOCK = timedelta(minutes=15)


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
        password_hash=passwords.hash_password(password),
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
    wait_seconds: int = 0  # > 0: too many wrong passwords or codes; try again after this
    needs_code: bool = False  # the password was right; the account's two-step code comes next


def authenticate(email: str, password: str, address: str, now: datetime | None = None) -> LoginResult:
    """Check a password from a client ``address``, slowing down repeated wrong ones.

    Wrong passwords are counted per (e-mail, address) and per address, never per account alone: a
    count per account is a lever anyone could pull to lock its owner out (admins too), while the
    owner at their own address still signs in at once. Guessing one account from many addresses
    meets argon2's cost per guess, the per-address limit and, for admins always, two-step sign-in.

    An address that used up its own limit (many e-mails tried there, perhaps a library's shared
    address) is still checked, and a right password of an account with two-step sign-in goes on to
    the code: an account's owner there is not locked out by a guesser beside them, and the guesser
    still needs the code. Everything else there gets the same refusal, right password or not.

    The counts are keyed by the e-mail as typed, known or not, and an unknown e-mail is verified
    against a dummy hash of the same cost: the answer and its time never tell whether an account
    exists.
    """
    now = now or utcnow()
    email = normalise_email(email)
    waits = signin_limits.waiting(email, address)
    if waits.account_at_address:
        return LoginResult(None, wait_seconds=waits.account_at_address)
    user = find_user(email)
    right = passwords.verify(user.password_hash if user is not None else passwords.dummy_hash(), password)
    if user is None or not user.active or not right:
        signin_limits.failed(email, address)
        # Written for unknown e-mails too: the same database write, so the answer's time does not
        # tell them apart (it did by the write alone, ~10%), and admins see guessing at names.
        if user is not None:
            audit.record("login.failed", f"user:{user.id}", actor=user, address=address)
        else:
            audit.record("login.failed", "unknown-account", address=address)
        return LoginResult(None, wait_seconds=waits.address)
    if waits.address and not user.totp_secret:
        return LoginResult(None, wait_seconds=waits.address)
    # Only someone with the right password gets here: wrong two-step codes (below) may slow the
    # account down without telling outsiders anything.
    if wait := _wait_seconds(user, now):
        return LoginResult(None, wait_seconds=wait)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_secret:
        # The count of wrong codes starts again only once the code is right too: a right password
        # must not wipe out the wrong codes guessed before it.
        return LoginResult(user, needs_code=True)
    _signed_in(user, now)
    return LoginResult(user)


def verify_code(user: User, code: str, now: datetime | None = None) -> LoginResult:
    """The second step: a code from the account's authenticator app, each usable once."""
    now = now or utcnow()
    if wait := _wait_seconds(user, now):
        return LoginResult(None, wait_seconds=wait)
    if not user.active or not user.totp_secret or not _accept_code(user, code, now):
        _count_failure(user, now, "login.failed_code")
        return LoginResult(None)
    _signed_in(user, now)
    return LoginResult(user)


def _accept_code(user: User, code: str, now: datetime) -> bool:
    step = two_step.step_of(code, user.totp_secret or "", now.timestamp())
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False  # wrong, or this code (or an older one) was already used
    user.totp_last_step = step
    return True


def _wait_seconds(user: User, now: datetime) -> int:
    if user.locked_until and _aware(user.locked_until) > now:
        return math.ceil((_aware(user.locked_until) - now).total_seconds())
    return 0


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their time zone; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _count_failure(user: User, now: datetime, action: str) -> None:
    user.failed_logins += 1
    if user.failed_logins >= FREE_ATTEMPTS:
        lock = timedelta(seconds=30 * 2 ** min(user.failed_logins - FREE_ATTEMPTS, 10))
        user.locked_until = now + min(lock, MAX_LOCK)
    audit.record(action, f"user:{user.id}", actor=user, attempts=user.failed_logins)


def _signed_in(user: User, now: datetime) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now


def start_two_step() -> str:
    """A new secret for an account to set up; stored only once a code from it is confirmed."""
    return two_step.new_secret()


def confirm_two_step(user: User, secret: str, code: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    step = two_step.step_of(code, secret, now.timestamp())
    if step is None:
        raise AccountError(_("That code is not right. Check the time on your phone and try again."))
    user.totp_secret = secret
    user.totp_last_step = step
    audit.record("user.two_step_on", f"user:{user.id}")


def turn_off_two_step(user: User, code: str, now: datetime | None = None) -> None:
    """Staff and viewers may go back to a password alone; admins may not."""
    now = now or utcnow()
    if user.is_admin:
        raise AccountError(_("Admins always sign in in two steps."))
    if not user.totp_secret:
        return
    if wait := _wait_seconds(user, now):
        raise AccountError(_("Too many wrong codes. Try again in %(s)d seconds.", s=wait))
    if not _accept_code(user, code, now):
        _count_failure(user, now, "two_step_off.failed_code")
        raise AccountError(_("That code is not right or was already used."))
    user.totp_secret = None
    user.totp_last_step = None
    audit.record("user.two_step_off", f"user:{user.id}")


def reset_two_step(user: User) -> None:
    """For a lost phone: the account sets up two-step sign-in again at its next sign-in."""
    user.totp_secret = None
    user.totp_last_step = None
    user.session_version += 1  # whoever holds the phone's sessions is signed out
    audit.record("user.two_step_reset", f"user:{user.id}", email=user.email)


def change_password(user: User, current: str, new: str) -> None:
    if not passwords.verify(user.password_hash, current):
        raise AccountError(_("The current password is not right."))
    set_password(user, new)


def sign_out(user: User) -> None:
    """Signing out ends every copy of the user's session: the signed cookie lives in the browser, so
    a copy taken before sign-out would otherwise stay valid until it times out."""
    user.session_version += 1
    audit.record("logout", f"user:{user.id}", actor=user)


def set_password(user: User, new: str) -> None:
    check_password_rules(new)
    user.password_hash = passwords.hash_password(new)
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
