from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from admin import audit
from admin.accounts import operations, sessions, two_step
from admin.accounts.forms import CodeForm, LanguageForm, LoginForm, PasswordForm, UserForm
from admin.auth import admin_required, load_user
from admin.extensions import db, limiter
from admin.forms import choices
from admin.models import Branch, Role, User

bp = Blueprint("accounts", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = operations.authenticate(
            form.email.data or "", form.password.data or "", get_remote_address()
        )
        if result.user is not None and result.needs_code:
            db.session.commit()
            session.clear()
            session[PENDING_USER] = result.user.get_id()
            session[PENDING_SINCE] = int(sessions.clock())
            session[PENDING_NEXT] = _safe_next(request.args.get("next"))
            return redirect(url_for("accounts.login_code"))
        if result.user is not None:
            return _sign_in(result.user, _safe_next(request.args.get("next")))
        db.session.commit()
        status = _refused(
            result,
            _("E-mail address or password is not right."),
            _("Too many wrong passwords. Try again in %(s)d seconds.", s=result.wait_seconds),
        )
    return render_template("accounts/login.html", form=form), status


# Between a right password and a right code: whose code is asked, since when, where to go next.
PENDING_USER, PENDING_SINCE, PENDING_NEXT = "pending_user", "pending_since", "pending_next"
PENDING_SECONDS = 5 * 60


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def login_code() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    user = _pending_user()
    if user is None:
        session.clear()
        flash(_("Please sign in again."), "info")
        return redirect(url_for("accounts.login"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        result = operations.verify_code(user, form.code.data or "")
        if result.user is not None:
            return _sign_in(result.user, session.get(PENDING_NEXT) or url_for("home.index"))
        db.session.commit()
        status = _refused(
            result,
            _("That code is not right or was already used."),
            _("Too many wrong attempts. Try again in %(s)d seconds.", s=result.wait_seconds),
        )
    return render_template("accounts/login_code.html", form=form), status


def _pending_user() -> User | None:
    pending, since = session.get(PENDING_USER), session.get(PENDING_SINCE)
    if not isinstance(pending, str) or not isinstance(since, int):
        return None
    if sessions.clock() - since > PENDING_SECONDS:
        return None
    return load_user(pending)  # None once the password changed or the account was disabled


def _refused(result: operations.LoginResult, wrong: str, wait: str) -> int:
    if result.wait_seconds:
        flash(wait, "error")
        return 429
    flash(wrong, "error")
    return 401


def _sign_in(user: User, target: str) -> ResponseReturnValue:
    session.clear()
    login_user(user)
    sessions.start()
    audit.record("login", f"user:{user.id}", actor=user)
    db.session.commit()
    return redirect(target)


def _safe_next(target: str | None) -> str:
    """Only a path on this site. Browsers drop tabs and newlines and read a backslash as a slash, so
    "/\t/evil.example" would leave the site: any control character, space or backslash is refused."""
    if (
        target
        and target.startswith("/")
        and not any(c.isspace() or not c.isprintable() or c == "\\" for c in target)
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and not parts.path.startswith("//"):
            return target
    return url_for("home.index")


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    operations.sign_out(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/two-step", methods=["GET", "POST"])
@login_required
def two_step_setup() -> ResponseReturnValue:
    """Set up two-step sign-in: scan or type the secret, then confirm it with a code."""
    if current_user.totp_secret:
        flash(_("Two-step sign-in is already on."), "info")
        return redirect(url_for("accounts.account"))
    secret = session.get(SETUP_SECRET)
    if not isinstance(secret, str):
        secret = session[SETUP_SECRET] = operations.start_two_step()
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            operations.confirm_two_step(current_user, secret, form.code.data or "")
        except operations.AccountError as error:
            form.code.errors = [str(error)]
            status = 422
        else:
            db.session.commit()
            session.pop(SETUP_SECRET, None)  # never shown again
            flash(_("Two-step sign-in is on. From now on you sign in with a code as well."), "info")
            return redirect(url_for("home.index"))
    uri = two_step.provisioning_uri(secret, current_user.email)
    return render_template(
        "accounts/two_step_setup.html",
        form=form,
        qr_code=two_step.qr_code_data_uri(uri),
        secret=two_step.grouped(secret),
    ), status


SETUP_SECRET = "two_step_setup_secret"


@bp.post("/account/two-step/off")
@login_required
def two_step_off() -> ResponseReturnValue:
    form = CodeForm(prefix="off")
    if form.validate_on_submit():
        try:
            operations.turn_off_two_step(current_user, form.code.data or "")
        except operations.AccountError as error:
            db.session.commit()  # a wrong code counts toward the slow-down
            flash(str(error), "error")
            return redirect(url_for("accounts.account"), 303)
        db.session.commit()
        flash(_("Two-step sign-in is off."), "info")
    else:
        flash(_("Type the code from your authenticator app."), "error")
    return redirect(url_for("accounts.account"), 303)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> ResponseReturnValue:
    password_form = PasswordForm(prefix="pw")
    language_form = LanguageForm(prefix="lang", locale=current_user.locale)
    if "pw-submit" in request.form and password_form.validate_on_submit():
        try:
            operations.change_password(
                current_user, password_form.current.data or "", password_form.new.data or ""
            )
        except operations.AccountError as error:
            password_form.current.errors = [str(error)]
        else:
            db.session.commit()
            # This session goes on under the new session version (the proxy itself must not be stored).
            login_user(current_user._get_current_object())
            flash(_("Your password is changed. Other sessions are signed out."), "info")
            return redirect(url_for("accounts.account"))
    elif "lang-submit" in request.form and language_form.validate_on_submit():
        current_user.locale = language_form.locale.data
        db.session.commit()
        return redirect(url_for("accounts.account"))
    return render_template(
        "accounts/account.html",
        password_form=password_form,
        language_form=language_form,
        two_step_off_form=CodeForm(prefix="off"),
    )


@bp.get("/users")
@admin_required
def users() -> ResponseReturnValue:
    all_users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("accounts/users.html", users=all_users)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int | None = None) -> ResponseReturnValue:
    user = db.session.get(User, user_id) if user_id else None
    if user_id and user is None:
        abort(404)
    form = UserForm(obj=user)
    branches = db.session.scalars(select(Branch).order_by(Branch.name)).all()
    form.branches.choices = choices((b.id, b.name) for b in branches)
    if request.method == "GET" and user:
        form.branches.data = [b.id for b in user.branches]
        form.role.data = user.role.value
    if form.validate_on_submit():
        chosen = [b for b in branches if b.id in (form.branches.data or [])]
        role = Role(form.role.data)
        try:
            if user is None:
                user = operations.create_user(
                    form.email.data or "",
                    form.password.data or "",
                    role,
                    chosen,
                    locale=form.locale.data or "nl",
                )
            else:
                operations.update_user(user, role, chosen, form.active.data, form.locale.data or "nl")
                if form.password.data:
                    operations.set_password(user, form.password.data)
        except operations.AccountError as error:
            form.email.errors = [str(error)]
        else:
            db.session.commit()
            flash(_("Saved %(email)s.", email=user.email), "info")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=user, reset_form=FlaskForm())


@bp.post("/users/<int:user_id>/two-step/reset")
@admin_required
def reset_two_step(user_id: int) -> ResponseReturnValue:
    """A lost phone: the user sets up two-step sign-in again at the next sign-in (audited)."""
    user = db.session.get(User, user_id) or abort(404)
    if FlaskForm().validate_on_submit() and user.totp_secret:
        operations.reset_two_step(user)
        db.session.commit()
        flash(
            _(
                "Two-step sign-in of %(email)s is reset; they set it up again at their next sign-in.",
                email=user.email,
            ),
            "info",
        )
    return redirect(url_for("accounts.edit_user", user_id=user.id), 303)
