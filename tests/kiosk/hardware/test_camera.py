"""Cameras, through the real OpenCV capture path on generated video files."""

from __future__ import annotations

import itertools
import socket
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from kiosk.hardware.camera import (
    CameraError,
    FileCamera,
    Frame,
    OpenCVCamera,
    Picamera2Camera,
    open_camera,
)
from kiosk.hardware.clock import now


def count_frames(camera: Any, seconds: float) -> list[Frame]:
    """Every distinct frame ``read`` returns during ``seconds``."""
    frames: list[Frame] = []
    last: float | None = None
    deadline = now() + seconds
    while now() < deadline:
        frame = camera.read(newer_than=last)
        frames.append(frame)
        last = frame.timestamp
    return frames


def test_file_camera_is_paced_to_real_time(test_video: Path) -> None:
    with open_camera(str(test_video)) as camera:
        assert isinstance(camera, FileCamera)
        assert (camera.width, camera.height, camera.fps) == (1280, 720, 25)
        frames = count_frames(camera, 2.0)
    rate = (len(frames) - 1) / (frames[-1].timestamp - frames[0].timestamp)
    # Never faster than the video; slower only when the machine cannot decode 720p in time (a busy
    # test machine), which the recorder handles as dropped frames.
    assert 10 <= rate <= 27, f"file camera ran at {rate:.0f} fps instead of 25"
    assert frames[0].image.shape == (720, 1280, 3)
    assert frames[0].image.dtype == np.uint8
    intervals = np.diff([f.timestamp for f in frames])
    assert float(np.median(intervals)) > 0.035, "frames do not come one by one"


def test_file_camera_loops_at_the_end(short_video: Path) -> None:
    # The clip has 15 frames (0.6 s); 1.5 s of reading must go round it twice.
    with FileCamera(short_video) as camera:
        first = camera.read().image
        frames = count_frames(camera, 1.5)
    assert len(frames) >= 30
    # Somewhere after the end the very first picture must come back.
    differences = [np.abs(f.image.astype(int) - first).mean() for f in frames[15:]]
    assert min(differences) < 1.0


def test_listener_sees_every_frame(test_video: Path) -> None:
    seen: list[Frame] = []
    with FileCamera(test_video) as camera:
        camera.add_listener(seen.append)
        time.sleep(1.0)
        camera.remove_listener(seen.append)
        count = len(seen)
        time.sleep(0.2)
    assert 20 <= count <= 30
    assert len(seen) == count, "a removed listener was still called"
    assert all(b.timestamp > a.timestamp for a, b in itertools.pairwise(seen))


def test_latest_jpeg_is_a_small_preview(test_video: Path) -> None:
    camera = FileCamera(test_video)
    assert camera.latest_jpeg() is None  # not started: no picture, no error
    with camera:
        camera.read()
        jpeg = camera.latest_jpeg(max_width=640)
        assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
        assert camera.latest_jpeg(max_width=640) is jpeg or camera.latest_jpeg() is not None
    preview = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert preview is not None and preview.shape == (360, 640, 3)


def test_close_twice_and_no_use_after_close(test_video: Path) -> None:
    camera = FileCamera(test_video)
    camera.start()
    camera.read()
    camera.stop()
    with pytest.raises(CameraError, match="not running"):
        camera.read(timeout=0.1)
    camera.start()  # a stopped camera starts again
    camera.read()
    camera.close()
    camera.close()
    assert not camera.running
    with pytest.raises(CameraError, match="closed"):
        camera.start()


def test_stop_from_another_thread_wakes_a_waiting_reader(test_video: Path) -> None:
    camera = FileCamera(test_video)
    camera.start()
    errors: list[Exception] = []

    def wait_forever() -> None:
        try:
            camera.read(newer_than=now() + 3600, timeout=10)
        except CameraError as exc:
            errors.append(exc)

    reader = threading.Thread(target=wait_forever)
    reader.start()
    time.sleep(0.1)
    started = now()
    camera.close()
    reader.join(5)
    assert not reader.is_alive() and now() - started < 2
    assert errors and "not running" in str(errors[0])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_sources_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="file not found"):
        open_camera(str(tmp_path / "missing.mp4")).start()

    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("this is not a video")
    with pytest.raises(CameraError, match="cannot play"):
        open_camera(str(not_a_video)).start()

    with pytest.raises(CameraError, match=r"no camera at /dev/video63"):
        open_camera("63").start()

    url = f"http://127.0.0.1:{_closed_port()}/stream.mjpg"
    with pytest.raises(CameraError, match="cannot open camera stream"):
        open_camera(url).start()


def test_open_camera_picks_the_implementation(tmp_path: Path) -> None:
    device = open_camera(0)
    assert isinstance(device, OpenCVCamera) and device.source == 0
    assert isinstance(open_camera(" 2 "), OpenCVCamera)
    assert open_camera("rtsp://127.0.0.1/cam").name == "rtsp://127.0.0.1/cam"
    assert isinstance(open_camera("picamera2"), Picamera2Camera)
    file_camera = open_camera(str(tmp_path / "x.mp4"), 640, 480, 30)
    assert isinstance(file_camera, FileCamera)
    assert (file_camera.width, file_camera.height, file_camera.fps) == (640, 480, 30)


def test_picamera2_missing_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # as on any machine but a Pi
    with pytest.raises(CameraError, match="picamera2 package"):
        Picamera2Camera().start()


class _FakePicamera2:
    """Stands in for picamera2.Picamera2, which needs libcamera and a Pi camera."""

    instances: list[_FakePicamera2] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.calls: list[str] = []
        self.size = (0, 0)
        self.instances.append(self)

    def create_video_configuration(self, main: dict[str, Any], controls: dict[str, Any]) -> Any:
        assert main["format"] == "RGB888" and controls["FrameRate"] == 25.0
        return {"main": main}

    def configure(self, config: dict[str, Any]) -> None:
        self.size = config["main"]["size"]
        self.calls.append("configure")

    def start(self) -> None:
        self.calls.append("start")

    def capture_array(self, name: str) -> np.ndarray:
        time.sleep(0.04)
        width, height = self.size
        return np.full((height, width, 3), 100, np.uint8)

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def test_picamera2_camera_with_a_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("picamera2")
    module.Picamera2 = _FakePicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    with open_camera("picamera2", 640, 480, 25) as camera:
        frame = camera.read()
        assert frame.image.shape == (480, 640, 3)
    assert _FakePicamera2.instances[-1].calls == ["configure", "start", "stop", "close"]
