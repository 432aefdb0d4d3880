"""Vertelpaal admin server: staff pages, the kiosk API and the media store.

``create_app(config=None)`` builds an app; each feature package registers its blueprint, CLI
commands and hooks in its own ``init_app``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, has_request_context, render_template, request
from flask_babel import get_locale, gettext
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from admin import config as settings
from admin.extensions import babel, csrf, db, limiter, migrate
from admin.forms import refuse_unreadable_input

MIGRATIONS = str(Path(__file__).parent / "migrations")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    environ = (config or {}).get("ENVIRON")
    app.config.from_mapping(settings.from_environment(app.instance_path, environ))
    if config:
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "nl")
    # Times on the pages and days in filters are the libraries' own.
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Amsterdam")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations"))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the session's own limits apply

    if proxies := app.config.get("TRUSTED_PROXIES"):
        # Behind nginx every request comes from 127.0.0.1: per-address limits need the client's own.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)

    from admin import (
        accounts,
        branches,
        dashboards,
        home,
        kiosk_api,
        kiosks,
        mediafiles,
        privacy,
        questionnaires,
        questions,
        responses,
        retention,
        storage,
    )
    from admin.demo import cli as demo_cli

    storage.init_app(app)
    for feature in (
        accounts,
        home,
        branches,
        questions,
        questionnaires,
        mediafiles,
        kiosk_api,
        kiosks,
        responses,
        dashboards,
        retention,
        privacy,
    ):
        feature.init_app(app)
    demo_cli.init_app(app)

    app.before_request(refuse_unreadable_input)
    app.after_request(_security_headers)
    app.register_error_handler(413, _too_large)
    app.jinja_env.globals.update(LANGUAGE_NAMES=LANGUAGE_NAMES, get_locale=get_locale)
    return app


LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}


def _select_locale() -> str | None:
    if not has_request_context():  # CLI commands speak the default language
        return None
    if current_user and current_user.is_authenticated:
        return str(current_user.locale)
    return request.accept_languages.best_match(list(LANGUAGE_NAMES), default="nl")


def _too_large(error: Exception) -> tuple[str, int]:
    limit = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    message = gettext("This upload is too large: at most %(mb)d MB in one go.", mb=limit)
    return render_template("error.html", message=message), 413


def _security_headers(response: Response) -> Response:
    # No inline scripts or third-party origins anywhere: every page works from 'self' only.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if current_app.config["PRODUCTION"]:
        # Browsers remember for two years to come only over HTTPS (development runs on plain http).
        response.headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    return response
