"""`python -m kiosk selftest|run|sync --config FILE` as a deployer types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.hardware.pulse import PulseNullSink

ROOT = Path(__file__).resolve().parents[2]
CAMERA = ROOT / "media" / "sample" / "camera.mp4"


def kiosk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.audio
def test_selftest_records_camera_and_microphone_and_says_so(tmp_path: Path, pulse: PulseNullSink) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[camera]\nsource = "{CAMERA}"\n')
    player = pulse.play_tone(440, 30)  # stopped below; long enough for a slow start-up
    try:
        result = kiosk("selftest", "--config", str(config), env=dict(os.environ, **pulse.client_env))
    finally:
        player.terminate()
        player.wait(5)
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout.lower()
    assert "camera" in text and "microphone" in text and "disk" in text
    # The recorder profile measured on this machine, kept for the kiosk's next start.
    recorder = next(line for line in result.stdout.splitlines() if line.startswith("recorder "))
    assert "× real time" in recorder and ", measured" in recorder, recorder
    kept = json.loads((tmp_path / "data" / "recorder-profile.json").read_text())
    assert kept["how"] == "measured" and recorder.endswith(kept["summary"])


def test_selftest_without_a_camera_fails_in_plain_words(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[camera]\nsource = "{tmp_path / "none.mp4"}"\n'
        '[microphone]\ndevice = "no such microphone"\n'
    )
    result = kiosk("selftest", "--config", str(config))
    assert result.returncode != 0
    assert "camera" in result.stdout.lower()


def test_a_bad_configuration_stops_start_up_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text("port = 'eighty'\n")
    for command in ("run", "sync", "selftest"):
        result = kiosk(command, "--config", str(config))
        assert result.returncode == 2 and "port must be a whole number" in result.stderr


def test_sync_without_a_server_says_what_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    result = kiosk("sync", "--config", str(config))
    assert result.returncode == 2 and "server_url" in result.stderr
