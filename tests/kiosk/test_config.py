"""The kiosk's TOML configuration: defaults, relative paths, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import DEFAULT_QUESTION_SET, ConfigError, KioskConfig, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, "utf-8")
    return path


def test_an_empty_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, ""))
    assert config == KioskConfig()
    assert config.host == "127.0.0.1" and config.languages == ("nl", "en")
    assert config.question_set == DEFAULT_QUESTION_SET


def test_the_example_file_is_valid_and_matches_the_defaults() -> None:
    example = Path(__file__).resolve().parents[2] / "kiosk" / "kiosk.example.toml"
    assert load(example) == KioskConfig()


def test_settings_are_read_and_relative_paths_follow_the_file(tmp_path: Path) -> None:
    config = load(
        write(
            tmp_path,
            'data_dir = "data"\nlanguages = ["nl"]\n[camera]\nsource = 2\nfps = 15\n'
            "[timeouts]\nidle_seconds = 30\n",
        )
    )
    assert config.data_dir == tmp_path / "data"
    assert config.languages == ("nl",)
    assert config.camera.source == "2" and config.camera.fps == 15
    assert config.timeouts.idle_seconds == 30.0
    assert config.outbox_path == tmp_path / "data" / "outbox.sqlite3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 'eighty'", "port must be a whole number"),
        ("colour = 'red'", "unknown setting 'colour'"),
        ("[camera]\nzoom = 2", "[camera]: unknown setting 'zoom'"),
        ("languages = 'nl'", "list of language codes"),
        ("[timeouts]\nmax_answer_seconds = 1", "max_answer_seconds"),
        ("server_url = 'ftp://x'", "server_url"),
        ("question_set = '/nonexistent'", "manifest.json"),
        ("port = [", "not valid TOML"),
        ("[sync]\nupload_chunk_kb = 4", "upload_chunk_kb"),
        ("[sync]\nmax_backoff_seconds = 0", "max_backoff_seconds"),
        ("[sync]\ninterval_seconds = 0", "interval_seconds"),
    ],
)
def test_a_bad_setting_stops_with_a_message_that_names_it(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(write(tmp_path, text))
    assert message in str(error.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")


def test_the_sync_settings_reach_the_sync_service(tmp_path: Path) -> None:
    from kiosk.sync import SyncService

    config = load(
        write(
            tmp_path,
            'server_url = "http://127.0.0.1:9"\ndata_dir = "data"\n'
            "[sync]\ninterval_seconds = 0.5\nmax_backoff_seconds = 2\nupload_chunk_kb = 64\n",
        )
    )
    assert config.sync.interval_seconds == 0.5 and config.sync.max_backoff_seconds == 2.0
    service = SyncService(config)
    try:
        assert service.chunk_size == 64 * 1024
        assert all(0 <= SyncService.backoff(20, config.sync.max_backoff_seconds) <= 2.0 for _ in range(200))
    finally:
        service.close()
    assert KioskConfig().sync.upload_chunk_kb == 1024 and KioskConfig().sync.max_backoff_seconds == 300
