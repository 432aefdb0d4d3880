"""Cameras: a small base class and the implementations the kiosk can be configured with.

Every camera runs one background thread that captures continuously and keeps only the newest
frame. Readers never queue up old pictures: the preview shows what the lens sees now, and a
recording that starts on a tap gets a frame captured after the tap within one frame interval.
Anything that must see *every* frame (the recorder) registers a listener instead.

Nothing here touches a device before :meth:`Camera.start`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

import cv2
import numpy as np

from kiosk.hardware.clock import now

log = logging.getLogger(__name__)


class CameraError(RuntimeError):
    """A camera could not be opened, or stopped giving pictures."""


class Frame(NamedTuple):
    """One picture and the moment it was captured, on :func:`kiosk.hardware.clock.now`."""

    image: np.ndarray  # BGR, uint8, shape (height, width, 3)
    timestamp: float


FrameListener = Callable[[Frame], None]

# How long a camera may fail to deliver before it is declared broken.
_FAILURE_SECONDS = 2.0


class Camera(ABC):
    """Base class: a capture thread, the newest frame, listeners and a JPEG preview.

    Subclasses implement :meth:`_open`, :meth:`_grab` and :meth:`_release`. ``width``, ``height``
    and ``fps`` hold the requested values until :meth:`_open` replaces them with what the
    device really delivers.
    """

    def __init__(self, name: str, width: int = 1280, height: int = 720, fps: float = 25.0) -> None:
        self.name = name
        self.width = width
        self.height = height
        self.fps = fps
        self._lock = threading.Lock()  # guards start/stop/close
        self._cond = threading.Condition()  # guards the newest frame and the error
        self._latest: Frame | None = None
        self._error: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._listeners: list[FrameListener] = []
        self._jpeg_cache: tuple[tuple[float, int, int | None], bytes] | None = None

    # -- what subclasses provide -------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None:
        """Open the device; raise :class:`CameraError` with a helpful message if it cannot."""

    @abstractmethod
    def _grab(self) -> np.ndarray | None:
        """Block until the next picture and return it (BGR), or None when none came."""

    @abstractmethod
    def _release(self) -> None:
        """Give the device back. Called once per successful :meth:`_open`."""

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stopping.is_set()

    def start(self) -> None:
        """Open the camera and start capturing. Does nothing when already running."""
        with self._lock:
            if self._closed:
                raise CameraError(f"camera {self.name} is closed")
            if self.running:
                return
            if self._thread is not None and self._thread.is_alive():
                # A stop timed out in a hung read; that thread still owns the device.
                raise CameraError(f"camera {self.name} is still stopping")
            self._open()
            with self._cond:
                self._latest = None
                self._error = None
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._capture_loop, name=f"camera {self.name}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop capturing and release the device. Safe to call when not running."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._stopping.set()
            with self._cond:
                self._latest = None  # no stale picture in the preview
                self._cond.notify_all()  # wake readers: they raise "not running"
            if thread is threading.current_thread():
                return  # called from a listener: the loop ends after this frame
            thread.join(timeout)
            if thread.is_alive():
                # The capture thread releases the device when its blocked read returns.
                log.warning("camera %s did not stop within %.1f s", self.name, timeout)
            else:
                self._thread = None

    def close(self) -> None:
        """Stop and forget the camera for good. Safe to call twice."""
        self.stop()
        self._closed = True

    @property
    def failure(self) -> str | None:
        """Why a started camera stopped giving pictures, or None while it works."""
        return self._error

    def probe(self) -> None:
        """Check that the camera can be opened, without capturing; raise :class:`CameraError` if not.

        The default opens the device, takes one picture and gives the device back at once, so the
        kiosk never films an empty hall. Subclasses with a cheaper test override it.
        """
        with self._lock:
            if self.running:
                return
            self._open()
            self._release()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- frames ----------------------------------------------------------------------------------

    def read(self, newer_than: float | None = None, timeout: float = 2.0) -> Frame:
        """The newest frame; with ``newer_than``, wait for one captured after that moment."""
        deadline = now() + timeout
        with self._cond:
            while True:
                if self._error is not None:
                    raise CameraError(self._error)
                if not self.running:
                    raise CameraError(f"camera {self.name} is not running")
                frame = self._latest
                if frame is not None and (newer_than is None or frame.timestamp > newer_than):
                    return frame
                remaining = deadline - now()
                if remaining <= 0:
                    raise CameraError(f"camera {self.name} gave no picture within {timeout:.1f} s")
                self._cond.wait(remaining)

    def latest_jpeg(self, quality: int = 80, max_width: int | None = 640) -> bytes | None:
        """The newest frame as JPEG for the MJPEG preview, or None before the first frame.

        Several preview clients share one encoding per frame; ``max_width`` scales the
        picture down because the preview needs far less than the recording.
        """
        with self._cond:
            frame = self._latest
            cache = self._jpeg_cache
        if frame is None:
            return None
        key = (frame.timestamp, quality, max_width)
        if cache is not None and cache[0] == key:
            return cache[1]
        image = frame.image
        if max_width is not None and image.shape[1] > max_width:
            height = round(image.shape[0] * max_width / image.shape[1])
            image = cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            return None
        jpeg = data.tobytes()
        with self._cond:
            self._jpeg_cache = (key, jpeg)
        return jpeg

    def add_listener(self, listener: FrameListener) -> None:
        """Call ``listener(frame)`` on the capture thread for every new frame; keep it quick."""
        with self._cond:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: FrameListener) -> None:
        with self._cond:
            self._listeners = [x for x in self._listeners if x != listener]  # bound methods: ==

    # -- the capture thread ------------------------------------------------------------------

    def _capture_loop(self) -> None:
        failing_since: float | None = None
        try:
            while not self._stopping.is_set():
                image = self._grab()
                timestamp = now()
                if image is None:
                    if failing_since is None:
                        failing_since = timestamp
                    if timestamp - failing_since > _FAILURE_SECONDS:
                        self._fail(f"camera {self.name} stopped giving pictures")
                        return
                    self._stopping.wait(0.02)  # a broken device fails at once; do not spin
                    continue
                failing_since = None
                self._publish(Frame(image, timestamp))
        except Exception as exc:  # a driver error must not vanish with the thread
            log.exception("camera %s failed", self.name)
            self._fail(f"camera {self.name} failed: {exc}")
        finally:
            try:
                self._release()
            except Exception:
                log.exception("camera %s: release failed", self.name)

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            self._latest = frame
            listeners = self._listeners
            self._cond.notify_all()
        for listener in listeners:
            try:
                listener(frame)
            except Exception:
                log.exception("camera %s: frame listener failed", self.name)

    def _fail(self, message: str) -> None:
        with self._cond:
            self._error = message
            self._cond.notify_all()


# VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability), a 104-byte struct.
_VIDIOC_QUERYCAP = 0x80685600
_V4L2_CAP_VIDEO_CAPTURE = 0x00000001
_V4L2_CAP_DEVICE_CAPS = 0x80000000


def _v4l2_capabilities(fd: int) -> int:
    """What a V4L2 device node can do (its own capabilities, not the whole card's)."""
    answer = fcntl.ioctl(fd, _VIDIOC_QUERYCAP, bytes(104))
    capabilities, device_caps = struct.unpack_from("<II", answer, 84)
    return int(device_caps if capabilities & _V4L2_CAP_DEVICE_CAPS else capabilities)


class OpenCVCamera(Camera):
    """A USB webcam by device index (``/dev/videoN``) or a network stream by URL."""

    def __init__(self, source: int | str, width: int = 1280, height: int = 720, fps: float = 25.0) -> None:
        name = f"/dev/video{source}" if isinstance(source, int) else str(source)
        super().__init__(name, width, height, fps)
        self.source = source
        self._capture: cv2.VideoCapture | None = None

    def _open(self) -> None:
        if isinstance(self.source, int):
            capture = cv2.VideoCapture(self.source, cv2.CAP_V4L2)
            if not capture.isOpened():
                raise CameraError(f"no camera at {self.name}: is it plugged in? (`v4l2-ctl --list-devices`)")
            # USB cameras deliver 720p at full rate only as MJPG; raw YUYV is bandwidth-bound.
            capture.set(cv2.CAP_PROP_FOURCC, int.from_bytes(b"MJPG", "little"))
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            capture.set(cv2.CAP_PROP_FPS, self.fps)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # no stale pictures queued in the driver
        else:
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
            capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, timeouts)
            if not capture.isOpened():
                raise CameraError(f"cannot open camera stream {self.name}")
        self._adopt(capture)

    def probe(self) -> None:
        if not isinstance(self.source, int):
            super().probe()
            return
        path = f"/dev/video{self.source}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            raise CameraError(f"no camera at {path}: is it plugged in? ({exc.strerror})") from exc
        try:
            capabilities = _v4l2_capabilities(fd)
        except OSError as exc:
            raise CameraError(f"{path} is not a camera ({exc.strerror})") from exc
        finally:
            os.close(fd)
        if not capabilities & _V4L2_CAP_VIDEO_CAPTURE:
            raise CameraError(f"{path} cannot capture pictures (a codec or metadata device?)")

    def _adopt(self, capture: cv2.VideoCapture) -> None:
        """Check that ``capture`` really gives a picture and learn its true size and rate."""
        ok, image = capture.read()
        if not ok or image is None:
            capture.release()
            raise CameraError(f"camera {self.name} opened but gives no picture")
        self.height, self.width = image.shape[:2]
        fps = capture.get(cv2.CAP_PROP_FPS)
        if 1 <= fps <= 240:
            self.fps = fps
        self._capture = capture

    def _grab(self) -> np.ndarray | None:
        if self._capture is None:
            return None
        ok, image = self._capture.read()
        return image if ok else None

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class FileCamera(OpenCVCamera):
    """A video file played as if it were a camera: paced to real time, looping at the end.

    OpenCV decodes a file as fast as it can (hundreds of frames per second), so the pacing is
    done here. The file's own frame rate wins over the requested one.
    """

    def __init__(self, path: str | Path, width: int = 1280, height: int = 720, fps: float = 25.0) -> None:
        super().__init__(str(path), width, height, fps)
        self.path = Path(path)
        self._next_due = 0.0

    def _open(self) -> None:
        if not self.path.is_file():
            raise CameraError(f"camera video file not found: {self.path}")
        # One decoding thread plays 720p fifteen times faster than real time; FFmpeg's default of
        # one per core only keeps more pictures in memory (7 MB here).
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not capture.isOpened():
            raise CameraError(f"cannot play camera video file {self.path}: not a video?")
        self._adopt(capture)
        self._next_due = now()

    def _grab(self) -> np.ndarray | None:
        capture = self._capture
        if capture is None:
            return None
        interval = 1.0 / self.fps
        delay = self._next_due - now()
        if delay < -interval:  # fell behind (busy machine): drop the debt instead of bursting
            self._next_due = now()
        elif delay > 0 and self._stopping.wait(delay):
            return None
        self._next_due += interval
        ok, image = capture.read()
        if not ok:  # end of file: loop
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = capture.read()
        return image if ok else None


class Picamera2Camera(Camera):
    """A Raspberry Pi camera module through picamera2 (OpenCV has no libcamera backend)."""

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 25.0, camera_num: int = 0) -> None:
        super().__init__(f"picamera2:{camera_num}", width, height, fps)
        self.camera_num = camera_num
        self._camera: Any = None

    def _open(self) -> None:
        try:
            from picamera2 import Picamera2  # only on Raspberry Pi OS, and it opens libcamera
        except ImportError as exc:
            raise CameraError(
                "the Pi camera needs the picamera2 package (Raspberry Pi OS: "
                "`apt install python3-picamera2`, venv with --system-site-packages)"
            ) from exc
        try:
            camera = Picamera2(self.camera_num)
        except Exception as exc:  # picamera2 raises IndexError/RuntimeError for no camera
            raise CameraError(f"no Pi camera found ({exc})") from exc
        try:
            # libcamera names formats by little-endian words: "RGB888" is B, G, R in memory,
            # which is exactly OpenCV's BGR.
            config = camera.create_video_configuration(
                main={"size": (self.width, self.height), "format": "RGB888"},
                controls={"FrameRate": float(self.fps)},
            )
            camera.configure(config)
            camera.start()
        except Exception as exc:
            camera.close()
            raise CameraError(f"Pi camera could not start: {exc}") from exc
        self._camera = camera

    def probe(self) -> None:
        if self.running:
            return
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError("the Pi camera needs the picamera2 package") from exc
        # libcamera lists the cameras it found without starting one.
        if len(Picamera2.global_camera_info()) <= self.camera_num:
            raise CameraError(f"no Pi camera found at number {self.camera_num}")

    def _grab(self) -> np.ndarray | None:
        if self._camera is None:
            return None
        image: np.ndarray = self._camera.capture_array("main")
        if image.ndim == 3 and image.shape[2] == 4:  # an XRGB8888 configuration
            image = image[:, :, :3]
        self.height, self.width = image.shape[:2]
        return image

    def _release(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
            finally:
                self._camera.close()
                self._camera = None


def open_camera(source: str | int, width: int = 1280, height: int = 720, fps: float = 25.0) -> Camera:
    """Pick the camera for a configured source (not started yet).

    ``0`` or ``"0"`` → USB camera /dev/video0; ``"picamera2"`` → Pi camera module;
    ``"rtsp://…"``, ``"http(s)://…"`` → network stream; anything else → a video file.
    """
    if isinstance(source, int) or source.strip().isdigit():
        return OpenCVCamera(int(source), width, height, fps)
    source = source.strip()
    if source.lower() == "picamera2":
        return Picamera2Camera(width, height, fps)
    if source.lower().startswith(("rtsp://", "http://", "https://")):
        return OpenCVCamera(source, width, height, fps)
    return FileCamera(source, width, height, fps)
