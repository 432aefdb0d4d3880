"""Recorder profiles: measured on this machine, chosen for a slower one, the hardware encoder's
fallback, the cache, and a recording made with the chosen profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest

from kiosk.config import ConfigError, from_mapping
from kiosk.hardware import profiles
from kiosk.hardware.camera import FileCamera
from kiosk.hardware.profiles import MEASURED_MIN, Candidate, RecorderProfile, choose, recorder_profile
from kiosk.hardware.recorder import Recorder
from kiosk.hardware.selftest import run_selftest
from kiosk.hardware.synthetic import write_test_video
from tests.support.cpu import CORE, cpu_share

# Where none of these exist, a forced or automatic profile must still record.
NO_CAMERA = "63"


def test_choose_takes_the_best_profile_that_is_fast_enough_and_else_the_fastest() -> None:
    ladder = [Candidate(720), Candidate(540), Candidate(360, "ultrafast")]
    speeds = {"720p-veryfast": 1.2, "540p-veryfast": 2.4, "360p-ultrafast": 9.0}
    asked: list[str] = []

    def measure(candidate: Candidate) -> float:
        asked.append(candidate.name)
        return speeds[candidate.name]

    choice = choose(ladder, measure, required=2.25)
    assert (choice.candidate.name, choice.fast_enough) == ("540p-veryfast", True)
    assert asked == ["720p-veryfast", "540p-veryfast"], "stop measuring at the first that is fast enough"

    slow = choose(ladder, lambda c: speeds[c.name] / 10, required=2.25)
    assert (slow.candidate.name, slow.fast_enough) == ("360p-ultrafast", False)
    assert [name for name, _ in slow.tried] == list(speeds)


@pytest.fixture(scope="module")
def measured_here() -> dict[str, float]:
    """Each software profile's real speed on this machine, measured once for the tests below."""
    frames = profiles.talking_head_frames(1280, 720, 25.0)
    return {
        candidate.name: profiles.measure(candidate, frames, 25.0, give_up_below=MEASURED_MIN).speed
        for candidate in profiles.software_candidates(profiles.usable_cpus())
    }


def test_a_real_measurement_picks_the_best_profile_that_keeps_up(tmp_path: Path) -> None:
    cache = tmp_path / "recorder-profile.json"
    profile = recorder_profile(cache, width=1280, height=720, fps=25.0)
    assert profile.how == "measured" and profile.speed is not None and profile.speed > 0
    names = [name for name, _ in profile.tried]
    assert names[0] == "720p-veryfast", "the best profile is tried first"
    fast_enough = [name for name, speed in profile.tried if speed >= MEASURED_MIN]
    if fast_enough:
        assert profile.fast_enough and profile.name == fast_enough[0] == names[-1]
    else:  # a very busy machine: the fastest of all, and the profile says it is short
        assert not profile.fast_enough and profile.speed == max(s for _, s in profile.tried)
        assert "below the 2.2× wanted" in profile.summary() or "too slow" in profile.summary()
    assert json.loads(cache.read_text())["summary"] == profile.summary()


def test_a_slower_machine_gets_a_smaller_or_faster_profile(measured_here: dict[str, float]) -> None:
    """The same real figures, as a machine 6 and 1000 times slower would measure them."""
    ladder = profiles.software_candidates(profiles.usable_cpus())
    order = [c.name for c in ladder]
    here = choose(ladder, lambda c: measured_here[c.name], MEASURED_MIN)
    slower = choose(ladder, lambda c: measured_here[c.name] / 6, MEASURED_MIN)
    assert order.index(slower.candidate.name) >= order.index(here.candidate.name)
    if here.fast_enough and here.candidate.max_height == 720 and slower.fast_enough:
        assert slower.candidate.name != here.candidate.name, "6× slower cannot keep the same profile"
    hopeless = recorder_profile(None, measure_speed=lambda c: measured_here[c.name] / 1000)
    assert hopeless.how == "measured" and not hopeless.fast_enough and not hopeless.keeps_up
    fastest = max(measured_here, key=measured_here.__getitem__)
    assert hopeless.name == fastest
    assert "too slow to record video" in hopeless.summary()


def test_under_a_quarter_core_quota_the_kiosk_picks_a_smaller_profile() -> None:
    """The kiosk's own measurement, in child processes pinned to one core: one with the core
    to itself, one under a cgroup quota of a quarter core (a slow computer)."""
    code = (
        "import json; from kiosk.hardware import profiles as p; r = p.recorder_profile(None);"
        "print(json.dumps({'name': r.name, 'tried': dict(r.tried), 'quota': p.cpu_quota()}))"
    )

    def measured(quota: float | None) -> dict[str, Any]:
        with cpu_share(quota) as (how, enter):

            def setup() -> None:
                os.sched_setaffinity(0, {CORE})
                enter()

            result = subprocess.run(
                [sys.executable, "-c", code], preexec_fn=setup, capture_output=True, text=True, timeout=120
            )
        assert result.returncode == 0, result.stderr
        return {"how": how, **json.loads(result.stdout)}

    full, quarter = measured(None), measured(0.25)
    if quarter["how"].startswith("cgroup"):
        assert (full["quota"], quarter["quota"]) == (None, 0.25), "the kiosk sees its quota (for the cache)"
    order = list(profiles.KNOWN)
    assert order.index(quarter["name"]) >= order.index(full["name"]), (full, quarter)
    if full["name"] != "360p-ultrafast":  # else there is no smaller one
        assert quarter["name"] != full["name"], (full, quarter)
    assert quarter["tried"]["720p-veryfast"] < 0.6 * full["tried"]["720p-veryfast"], (full, quarter)


def test_the_pi_hardware_encoder_falls_back_here_and_says_why(tmp_path: Path) -> None:
    problem = profiles.hardware_problem("h264_v4l2m2m")
    assert problem is not None and problem.startswith("h264_v4l2m2m ")  # no V4L2 memory-to-memory device
    assert "not offered" in (profiles.hardware_problem("h264_nosuch_encoder") or "")
    profile = recorder_profile(tmp_path / "p.json", "720p-h264_v4l2m2m", width=1280, height=720, fps=25.0)
    assert profile.codec == "libx264" and profile.how == "measured"
    assert profile.note == f"asked for 720p-h264_v4l2m2m, but {problem}; measured instead"
    assert profile.summary().endswith(profile.note)
    automatic = recorder_profile(None, measure_speed=lambda c: 10.0)
    assert automatic.name == "720p-veryfast" and "no hardware encoder: h264_v4l2m2m" in automatic.note


def test_a_hardware_encoder_that_works_is_tried_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # No Pi here: this FFmpeg offers no H.264 encoder but libx264 that opens. The probe is told
    # that h264_v4l2m2m works, as on a Pi 4, to see the order of choosing.
    monkeypatch.setattr(profiles, "hardware_problem", lambda codec, **kwargs: None)
    tried: list[str] = []

    def measure(candidate: Candidate) -> float:
        tried.append(candidate.name)
        return 5.0

    profile = recorder_profile(None, measure_speed=measure)
    assert tried == ["720p-h264_v4l2m2m"]
    assert (profile.name, profile.codec, profile.preset, profile.note) == (
        "720p-h264_v4l2m2m",
        "h264_v4l2m2m",
        "",
        "",
    )
    assert profile.settings().codec == "h264_v4l2m2m"
    assert profile.summary().startswith("720p-h264_v4l2m2m: h264_v4l2m2m 1280×720, measured, 5.0× real time")


def test_the_profile_is_kept_until_the_machine_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "recorder-profile.json"
    first = recorder_profile(cache, measure_speed=lambda c: 3.0)
    assert first.how == "measured" and not cache.exists(), "figures given by a test are not kept"
    first = recorder_profile(cache, width=640, height=480, fps=25.0)

    def no_measuring(*args: object, **kwargs: object) -> None:
        raise AssertionError("measured again")

    monkeypatch.setattr(profiles, "measure", no_measuring)
    again = recorder_profile(cache, width=640, height=480, fps=25.0)
    assert again.how == "cached" and (again.name, again.speed) == (first.name, first.speed)
    with pytest.raises(AssertionError, match="measured again"):
        recorder_profile(cache, width=1920, height=1080, fps=25.0)  # another camera picture
    with monkeypatch.context() as patch, pytest.raises(AssertionError, match="measured again"):
        patch.setattr(profiles, "_libavcodec", lambda: "99.0.0")  # another FFmpeg
        recorder_profile(cache, width=640, height=480, fps=25.0)
    with monkeypatch.context() as patch, pytest.raises(AssertionError, match="measured again"):
        patch.setattr(profiles, "cpu_quota", lambda: 0.25)  # a quarter of a core from now on
        recorder_profile(cache, width=640, height=480, fps=25.0)
    assert recorder_profile(cache, width=640, height=480, fps=25.0).how == "cached"


def test_a_forced_profile_is_used_without_measuring(tmp_path: Path) -> None:
    profile = recorder_profile(tmp_path / "p.json", "540p-superfast", width=1280, height=720, fps=25.0)
    assert (profile.how, profile.speed, profile.width, profile.height) == ("forced", None, 960, 540)
    settings = profile.settings()
    assert (settings.preset, settings.threads, settings.max_height, settings.codec) == (
        "superfast",
        1,
        540,
        "libx264",
    )
    config = from_mapping({"recorder": {"profile": "360p-ultrafast"}})
    assert config.recorder.profile == "360p-ultrafast"
    with pytest.raises(ConfigError, match=r"\[recorder\] profile must be auto or one of: 720p-h264_v4l2m2m"):
        from_mapping({"recorder": {"profile": "1080p-placebo"}})


def test_a_recording_uses_the_profile_size_and_preset(tmp_path: Path) -> None:
    profile = recorder_profile(None, "360p-veryfast")
    camera_file = write_test_video(tmp_path / "camera.mp4", seconds=1.5, width=640, height=480)
    with FileCamera(camera_file) as camera:
        recorder = Recorder(tmp_path / "a.mp4", camera=camera, max_seconds=1.0, settings=profile.settings())
        recorder.start()
        assert recorder.wait(5.0)
    result = recorder.stop()
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 480, 360)


def test_the_selftest_reports_the_profile(tmp_path: Path) -> None:
    profile: RecorderProfile = recorder_profile(None, "540p-veryfast")
    report = run_selftest(NO_CAMERA, 999, tmp_path, seconds=1.0, min_free_bytes=1, profile=profile)
    assert report.recorder is not None and report.recorder.ok
    assert report.recorder.message.startswith("540p-veryfast: libx264 veryfast 960×540, forced")
    assert any(line.startswith("recorder   OK") for line in report.lines())
    assert report.as_dict()["recorder_profile"]["name"] == "540p-veryfast"
    hopeless = recorder_profile(None, measure_speed=lambda c: 0.5)
    slow = run_selftest(NO_CAMERA, 999, tmp_path, seconds=1.0, min_free_bytes=1, profile=hopeless)
    assert slow.recorder is not None and not slow.recorder.ok and not slow.ok
