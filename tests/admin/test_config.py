from pathlib import Path

import pytest

from admin import create_app
from admin.config import ConfigError, from_environment


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
