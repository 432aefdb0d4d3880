"""The self-test, with the file camera and the PulseAudio null sink as the kiosk's parts."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.hardware.pulse import PulseNullSink
from kiosk.hardware.selftest import run_selftest

pytestmark = pytest.mark.audio

PlayTone = Callable[[float, float], subprocess.Popen[bytes]]  # the play_tone fixture


def test_selftest_passes_with_working_parts(test_video: Path, play_tone: PlayTone, tmp_path: Path) -> None:
    play_tone(440, 4.0)
    report = run_selftest(str(test_video), "default", tmp_path, seconds=2.0, min_free_bytes=1)
    assert report.ok, str(report)
    assert "1280×720" in report.camera.message
    # 25 per second; the file camera drops a picture when it falls behind on a busy machine.
    rate = re.search(r"at (\d+) per second", report.camera.message)
    assert rate is not None and 22 <= int(rate[1]) <= 28, report.camera.message
    assert "hears sound" in report.microphone.message
    assert report.microphone_level_dbfs is not None and report.microphone_level_dbfs > -20
    assert "h264 + aac" in report.encoder.message or "aac + h264" in report.encoder.message
    assert "free in" in report.disk.message and report.disk_free_bytes
    assert list(tmp_path.iterdir()) == [], "the test recording must be removed"
    json.dumps(report.as_dict())  # the heartbeat sends it
    assert all(line.split()[1] == "OK" for line in report.lines())


def test_selftest_reports_a_missing_camera_and_silence(pulse: PulseNullSink, tmp_path: Path) -> None:
    missing = tmp_path / "no-camera.mp4"
    report = run_selftest(str(missing), "default", tmp_path / "out", seconds=1.0, min_free_bytes=1)
    assert not report.ok
    assert not report.camera.ok
    assert report.camera.message == f"camera video file not found: {missing}"
    # Nothing plays into the null sink: the microphone hears digital silence.
    assert not report.microphone.ok and "only silence" in report.microphone.message
    assert report.encoder.ok, "the encoder still works with the microphone alone"
    assert "aac" in report.encoder.message
    assert json.loads(json.dumps(report.as_dict()))["microphone_level_dbfs"] is None
    assert "FAIL" in str(report)


def test_selftest_reports_a_broken_microphone_and_a_full_disk(
    test_video: Path, pulse: PulseNullSink, tmp_path: Path
) -> None:
    report = run_selftest(str(test_video), "no such microphone", tmp_path, seconds=1.0, min_free_bytes=10**18)
    assert report.camera.ok and report.encoder.ok
    assert not report.microphone.ok
    assert "cannot open microphone 'no such microphone'" in report.microphone.message
    assert not report.disk.ok and report.disk.message.startswith("only ")


def test_selftest_without_any_part_still_tests_the_encoder(pulse: PulseNullSink, tmp_path: Path) -> None:
    report = run_selftest("63", 999, tmp_path, seconds=1.0, min_free_bytes=1)
    assert not report.camera.ok and "no camera at /dev/video63" in report.camera.message
    assert not report.microphone.ok
    assert report.encoder.ok and "h264" in report.encoder.message
