from flask import Blueprint

bp = Blueprint("kiosk_api", __name__, url_prefix="/api/kiosk/v1")
