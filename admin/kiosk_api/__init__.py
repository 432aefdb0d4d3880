"""The kiosk API, ``/api/kiosk/v1``: enrollment, configuration, media, tus uploads, sessions.

Kiosks authenticate with a bearer token (stored hashed; revocable). The API is described once, as
OpenAPI 3.1, in ``openapi.py`` and served at ``/api/kiosk/v1/openapi.json``.
"""

from flask import Flask

from admin.kiosk_api import limits, views  # noqa: F401  (they register themselves on bp)
from admin.kiosk_api.blueprint import bp


def init_app(app: Flask) -> None:
    from admin import sealing
    from admin.extensions import csrf

    sealing.init_app(app)  # flask --app admin keys init|show|rotate|retire
    # Kiosks send a bearer token, never a cookie, so there is no cross-site request to forge.
    csrf.exempt(bp)
    app.register_blueprint(bp)
