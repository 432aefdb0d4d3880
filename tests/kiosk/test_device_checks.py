"""The kiosk service knows whether camera and microphone work before it offers them.

Real probes on real parts: the camera is a video file (which the test removes, damages and puts
back), the microphone a PulseAudio null sink (which the test unplugs). Checks run at start,
every ``[devices] check_seconds`` and a few seconds after a failure; the result is what
``GET /api/show`` offers and what ``hardware.json`` (the heartbeat's source) says.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk import devices as device_checks
from kiosk.app import create_app
from kiosk.config import CameraConfig, DeviceCheckConfig, KioskConfig, MicrophoneConfig
from kiosk.devices import DeviceError, Devices
from kiosk.hardware.camera import CameraError, open_camera
from kiosk.hardware.microphone import MicrophoneError, SoundDeviceMicrophone
from kiosk.hardware.pulse import PulseNullSink

pytestmark = pytest.mark.audio

ROOT = Path(__file__).resolve().parents[2]
CAMERA = ROOT / "media" / "sample" / "camera.mp4"


def config_for(tmp_path: Path, camera: Path, check_seconds: float) -> KioskConfig:
    return replace(
        KioskConfig(data_dir=tmp_path / "data"),
        camera=CameraConfig(source=str(camera)),
        microphone=MicrophoneConfig(device="default"),
        devices=DeviceCheckConfig(check_seconds=check_seconds),
    )


def hardware_file(config: KioskConfig) -> dict[str, object]:
    return dict(json.loads((config.data_dir / "hardware.json").read_text()))


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def devices_of() -> Iterator[Callable[[KioskConfig], Devices]]:
    made: list[Devices] = []

    def make(config: KioskConfig) -> Devices:
        devices = Devices(config)
        made.append(devices)
        return devices

    yield make
    for devices in made:
        devices.close()


def test_checks_at_start_and_every_few_seconds_find_a_camera_that_comes_and_goes(
    tmp_path: Path, pulse: PulseNullSink, devices_of: Callable[[KioskConfig], Devices]
) -> None:
    camera = tmp_path / "camera.mp4"  # not there yet: the camera is "unplugged"
    config = config_for(tmp_path, camera, check_seconds=1)
    devices = devices_of(config)
    client = create_app(config, devices=devices).test_client()  # checks at start

    shown = client.get("/api/show").get_json()["devices"]
    assert shown["camera"]["ok"] is False and "not found" in shown["camera"]["message"]
    assert shown["microphone"] == {"ok": True, "message": ""}
    assert hardware_file(config) == {
        "camera_ok": False,
        "camera_message": shown["camera"]["message"],
        "microphone_ok": True,
        "microphone_message": "",
    }
    # The checks give the devices back: nothing is left open between visitors.
    assert devices._camera is None and devices._microphone is None

    shutil.copyfile(CAMERA, camera)  # plugged in
    wait_for(lambda: client.get("/api/show").get_json()["devices"]["camera"]["ok"], "the camera", 30)
    assert hardware_file(config)["camera_ok"] is True
    checks = devices.checks

    camera.unlink()  # pulled out again: nothing but the periodic check (every second here) can notice
    wait_for(lambda: not devices.status()["camera"].ok, "the camera to be missed", 30)
    assert devices.checks > checks
    assert hardware_file(config)["camera_ok"] is False
    assert devices._camera is None and devices._microphone is None


def test_a_failed_recording_start_is_noted_at_once_and_checked_again_soon(
    tmp_path: Path, pulse: PulseNullSink, devices_of: Callable[[KioskConfig], Devices]
) -> None:
    camera = tmp_path / "camera.mp4"
    shutil.copyfile(CAMERA, camera)
    # An hour between the regular checks: only the failure can make the kiosk look again.
    config = config_for(tmp_path, camera, check_seconds=3600)
    devices = devices_of(config)
    devices.start_checks()
    assert devices.status()["camera"].ok
    checks = devices.checks

    camera.write_bytes(b"not a video")  # the camera breaks between two checks
    with pytest.raises(DeviceError) as failed:
        devices.start_recording("r1", "video", tmp_path / "r1.mp4")
    assert failed.value.device == "camera"
    status = devices.status()["camera"]
    assert not status.ok and "not a video" in status.message  # noted before any check ran
    assert hardware_file(config)["camera_ok"] is False
    assert not list(tmp_path.glob("r1.mp4*"))

    # The failure wakes the checker; while a device fails it looks every few seconds.
    wait_for(lambda: devices.checks > checks, "a check after the failure", 3)
    assert not devices.status()["camera"].ok
    shutil.copyfile(CAMERA, camera)  # fixed
    wait_for(lambda: devices.status()["camera"].ok, "the camera to be offered again", 12)
    # The heartbeat's file follows right after (written whole, fsynced).
    wait_for(lambda: hardware_file(config)["camera_ok"] is True, "the heartbeat file to say so", 5)


def test_a_microphone_unplugged_while_recording_ends_the_take_and_keeps_it(
    tmp_path: Path, devices_of: Callable[[KioskConfig], Devices]
) -> None:
    with PulseNullSink("unpluggable") as sink:
        config = config_for(tmp_path, CAMERA, check_seconds=3600)
        devices = devices_of(config)
        devices.start_checks()
        assert devices.status()["microphone"].ok
        path = tmp_path / "voice.m4a"
        devices.start_recording("r1", "voice", path)
        time.sleep(1.5)
        sink.unplug()
        wait_for(lambda: devices.failed_device() == "microphone", "the failure to be seen", 5)
        result = devices.stop_recording("r1")
        assert result.failed_device == "microphone" and result.stopped_by == "device_failed"
        assert path.is_file() and 1.0 < result.duration < 2.5
        assert not devices.status()["microphone"].ok
        assert hardware_file(config)["microphone_ok"] is False
        # And the next check, on a sound server without any source, agrees.
        checks = devices.checks
        wait_for(lambda: devices.checks > checks, "the check after the failure", 3)
        assert not devices.status()["microphone"].ok
        with pytest.raises(MicrophoneError):
            SoundDeviceMicrophone("default").probe()


def test_a_device_still_missing_is_checked_often_only_for_a_while(
    tmp_path: Path,
    pulse: PulseNullSink,
    devices_of: Callable[[KioskConfig], Devices],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kiosk without a camera does not open its camera source every few seconds all day."""
    monkeypatch.setattr(device_checks, "RECHECK_AFTER_FAILURE_SECONDS", 0.3)
    monkeypatch.setattr(device_checks, "FAST_RECHECKS_FOR_SECONDS", 2.0)
    devices = devices_of(config_for(tmp_path, tmp_path / "no-camera.mp4", check_seconds=3600))
    devices.start_checks()
    assert not devices.status()["camera"].ok
    time.sleep(2.5)
    fast = devices.checks
    assert fast >= 4  # every 0.3 s (plus the time a check takes) during the first 2 s
    time.sleep(2.0)
    assert devices.checks == fast  # then only every check_seconds (an hour here)
    devices.request_check()  # a new failure: often again for a while
    wait_for(lambda: devices.checks >= fast + 3, "the checks after the new failure", 3)


def test_a_usb_camera_is_checked_without_filming() -> None:
    """A USB camera is only asked what it is (its light stays off); a missing one says where."""
    started = time.monotonic()
    with pytest.raises(CameraError, match=r"no camera at /dev/video57: is it plugged in\?"):
        open_camera("57").probe()
    assert time.monotonic() - started < 0.5
