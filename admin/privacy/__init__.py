"""Privacy: what the organisation keeps and for how long, erasure on request, the audit log.

Admins set the retention rules per kind of answer and the parent-or-carer step on the Privacy
page; staff erase a visitor's session when asked at the desk; admins read who did what.
"""

from flask import Flask

from admin.privacy.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
