import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import extract_parameters
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY
from flask import Flask
from flask.testing import FlaskClient

from admin import create_app
from admin.accounts import passwords
from admin.config import ConfigError, from_environment
from admin.extensions import db
from admin.models import Role, User
from tests.admin.helpers import login


def test_production_without_secret_key_stops_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        from_environment(str(tmp_path), {})


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VERTELPAAL_ENV"):
        from_environment(str(tmp_path), {"VERTELPAAL_ENV": "staging"})


def test_production_cookies_are_secure(tmp_path: Path) -> None:
    config = from_environment(str(tmp_path), {"SECRET_KEY": "x" * 40})
    assert config["SESSION_COOKIE_SECURE"] and config["SESSION_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_embedded_defaults_live_in_the_instance_folder(tmp_path: Path) -> None:
    config = from_environment(str(tmp_path), {"VERTELPAAL_ENV": "development"})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/vertelpaal.sqlite3"
    assert config["MEDIA_ROOT"] == str(tmp_path / "media")
    assert not config["SESSION_COOKIE_SECURE"]


def test_create_app_reads_the_environment(tmp_path: Path) -> None:
    app = create_app({"ENVIRON": {"VERTELPAAL_ENV": "development", "MEDIA_ROOT": str(tmp_path / "m")}})
    assert app.config["MEDIA_ROOT"] == str(tmp_path / "m")
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 30 * 60


def test_recordings_never_answered_with_are_kept_48_hours_unless_set(tmp_path: Path) -> None:
    development = {"VERTELPAAL_ENV": "development"}
    assert from_environment(str(tmp_path), development)["ORPHAN_RECORDING_HOURS"] == 48
    chosen = from_environment(str(tmp_path), {**development, "ORPHAN_RECORDING_HOURS": "6"})
    assert chosen["ORPHAN_RECORDING_HOURS"] == 6


def test_production_hashes_passwords_at_argon2s_full_cost(tmp_path: Path) -> None:
    app = create_app({"ENVIRON": {"SECRET_KEY": "x" * 40, "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}})
    with app.app_context():
        assert extract_parameters(passwords.hash_password("a long password")) == RFC_9106_LOW_MEMORY
        # An unknown e-mail costs what a known one does.
        assert extract_parameters(passwords.dummy_hash()) == RFC_9106_LOW_MEMORY
        assert not passwords.verify(passwords.dummy_hash(), "")


def test_the_app_hashes_at_its_own_cost_and_raises_weaker_hashes_at_sign_in(
    app: Flask, client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("anna@bieb.example", Role.ADMIN, totp_secret=None)
    assert extract_parameters(user.password_hash) == CHEAPEST  # the tests' setting (tests/conftest.py)
    with app.app_context():
        assert extract_parameters(passwords.dummy_hash()) == CHEAPEST
    app.config["PASSWORD_HASH_PARAMETERS"] = RFC_9106_LOW_MEMORY
    assert login(client, "anna@bieb.example") == 302
    with app.app_context():
        stored = db.session.get(User, user.id)
        assert stored is not None and extract_parameters(stored.password_hash) == RFC_9106_LOW_MEMORY


def test_starting_the_admin_hashes_nothing() -> None:
    """Every CLI call and worker start used to pay a full hash for the unknown-e-mail dummy."""
    script = (
        "import argon2\n"
        "def refuse(*args, **kwargs):\n"
        "    raise SystemExit('a password was hashed at start-up')\n"
        "argon2.PasswordHasher.hash = refuse\n"
        "from admin import create_app\n"
        "import admin.accounts.operations\n"
        "create_app({'ENVIRON': {'VERTELPAAL_ENV': 'development'}})\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
