from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from admin import audit
from admin.accounts import operations
from admin.accounts.forms import LanguageForm, LoginForm, PasswordForm, UserForm
from admin.auth import admin_required
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
        result = operations.authenticate(form.email.data or "", form.password.data or "")
        if result.user is not None:
            session.clear()
            session.permanent = True  # the idle limit is PERMANENT_SESSION_LIFETIME
            login_user(result.user)
            audit.record("login", f"user:{result.user.id}", actor=result.user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        db.session.commit()
        if result.wait_seconds:
            flash(_("Too many wrong passwords. Try again in %(s)d seconds.", s=result.wait_seconds), "error")
            status = 429
        else:
            flash(_("E-mail address or password is not right."), "error")
            status = 401
    return render_template("accounts/login.html", form=form), status


def _safe_next(target: str | None) -> str:
    # Only a path on this site, never another host.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("home.index")


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("accounts.login"))


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
    return render_template("accounts/account.html", password_form=password_form, language_form=language_form)


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
    return render_template("accounts/user_form.html", form=form, user=user)
