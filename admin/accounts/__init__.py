"""Staff accounts: signing in and out, own password and language, user management, CLI."""

from flask import Flask

from admin.accounts import cli, sessions, views


def init_app(app: Flask) -> None:
    from admin.extensions import login_manager

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None  # the login page itself says what to do
    login_manager.session_protection = "strong"
    app.register_blueprint(views.bp)
    app.before_request(sessions.enforce)
    app.cli.add_command(cli.users)
