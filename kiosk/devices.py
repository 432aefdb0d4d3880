"""The camera, microphone and the one recording in progress, owned by the kiosk service.

The camera and microphone run only while a visitor who consented is answering, so the kiosk
does not film an empty hall. One recording at a time: a kiosk has one visitor.

Whether each device works is known before a visitor is offered an answer that needs it: they
are checked at start, every ``[devices] check_seconds`` and soon after anything failed. A check
is cheap and brief (a USB camera is only asked what it is; a file or stream camera gives one
picture; the microphone is opened until its first sound) and never runs on a device a visitor
is using: then that device's own health counts. The result is what ``GET /api/show`` offers and
what the sync service's heartbeat reports (``hardware.json``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable import write_atomically
from kiosk.config import KioskConfig
from kiosk.hardware import (
    Camera,
    CameraError,
    EncoderSettings,
    Microphone,
    MicrophoneError,
    Recorder,
    RecorderError,
    RecordingResult,
    SoundDeviceMicrophone,
    open_camera,
)
from kiosk.hardware.microphone import refresh_sound_devices
from kiosk.paths import SyncPaths

log = logging.getLogger(__name__)

DEVICE_NAMES = ("camera", "microphone")
# Which devices each kind of recorded answer needs.
NEEDS = {"video": ("camera", "microphone"), "voice": ("microphone",)}
# After a failure (and at start) a failing device is checked this often for a minute, so one
# plugged back in is offered again at once; after that at the regular interval, so that a kiosk
# without a microphone does not reopen its sound system every few seconds all day.
RECHECK_AFTER_FAILURE_SECONDS = 5.0
FAST_RECHECKS_FOR_SECONDS = 60.0


@dataclass(frozen=True)
class DeviceStatus:
    ok: bool
    message: str = ""  # why it does not work, in the words of the driver

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message}


@dataclass
class ActiveRecording:
    uuid: str
    kind: str  # video | voice
    recorder: Recorder


class DeviceError(RuntimeError):
    def __init__(self, message: str, device: str | None = None) -> None:
        super().__init__(message)
        self.device = device  # "camera" or "microphone" when that device is the cause


Probe = Callable[[], None]  # raises CameraError / MicrophoneError when the device does not work


class Devices:
    def __init__(
        self,
        config: KioskConfig,
        settings: EncoderSettings | None = None,
        probe_camera: Probe | None = None,
        probe_microphone: Probe | None = None,
    ) -> None:
        self.config = config
        self.settings = settings  # the recorder profile measured at start; None: the defaults
        self._lock = threading.Lock()
        self._camera: Camera | None = None
        self._microphone: Microphone | None = None
        self._active: ActiveRecording | None = None
        self._probes: dict[str, Probe] = {
            "camera": probe_camera or self._probe_camera,
            "microphone": probe_microphone or self._probe_microphone,
        }
        self._status = {name: DeviceStatus(False, "not checked yet") for name in DEVICE_NAMES}
        self._status_lock = threading.Lock()
        self._failed_at: dict[str, float] = {}  # device → when it was last found not working
        self._hardware_file = SyncPaths(config.data_dir).hardware
        self._checks = 0
        self._wake = threading.Event()
        self._fast_until = 0.0  # time.monotonic() until which failing devices are checked often
        self._closing = threading.Event()
        self._checker: threading.Thread | None = None

    # --- knowing what works ------------------------------------------------------------------

    def start_checks(self) -> None:
        """Check both devices now, then again every ``check_seconds`` and after failures."""
        self._fast_until = time.monotonic() + FAST_RECHECKS_FOR_SECONDS
        self.check()
        if self._checker is None:
            self._checker = threading.Thread(target=self._check_loop, name="device checks", daemon=True)
            self._checker.start()

    def request_check(self) -> None:
        """Something failed: check again soon (the page is not kept waiting for it)."""
        self._fast_until = time.monotonic() + FAST_RECHECKS_FOR_SECONDS
        self._wake.set()

    @property
    def checks(self) -> int:
        """How many checks have run (for tests and the log)."""
        return self._checks

    def status(self) -> dict[str, DeviceStatus]:
        with self._status_lock:
            return dict(self._status)

    def check(self) -> dict[str, DeviceStatus]:
        """Check each device; one in use reports its own health, and while a visitor uses one the
        other is left alone (its last result stands): no device is opened beside a visitor."""
        with self._lock:
            in_use: dict[str, Camera | Microphone | None] = {
                "camera": self._camera,
                "microphone": self._microphone,
            }
            visitor = any(device is not None for device in in_use.values())
            found: dict[str, DeviceStatus] = {}
            for name in DEVICE_NAMES:
                device = in_use[name]
                if device is not None:
                    failure = device.failure
                    found[name] = DeviceStatus(failure is None, failure or "")
                    continue
                if visitor:
                    continue
                if name == "microphone" and not self.status()["microphone"].ok:
                    # PortAudio lists devices once; one plugged in since the last failure is
                    # found only after it looks again (safe: no stream is open now).
                    try:
                        refresh_sound_devices()
                    except Exception as error:  # PortAudio itself may be what is broken
                        log.warning("cannot list the sound devices again: %s", error)
                found[name] = self._run_probe(name)
            self._checks += 1
        self._set(found)
        return found

    def _run_probe(self, name: str) -> DeviceStatus:
        try:
            self._probes[name]()
        except (CameraError, MicrophoneError, OSError, RuntimeError) as error:
            return DeviceStatus(False, str(error)[:200])
        return DeviceStatus(True)

    def _probe_camera(self) -> None:
        cam = self.config.camera
        open_camera(cam.source, cam.width, cam.height, cam.fps).probe()

    def _probe_microphone(self) -> None:
        mic = self.config.microphone
        SoundDeviceMicrophone(mic.device, samplerate=mic.samplerate).probe()

    def failed_since(self, moment: float) -> list[str]:
        """The devices found not working after ``moment`` (``time.monotonic()``), in a fixed order."""
        with self._status_lock:
            return [name for name in DEVICE_NAMES if self._failed_at.get(name, -1.0) >= moment]

    def note_failure(self, device: str, message: str) -> None:
        """A device failed a visitor: it is not offered until a check finds it working again."""
        self._set({device: DeviceStatus(False, message[:200])})
        self.request_check()

    def _set(self, found: dict[str, DeviceStatus]) -> None:
        with self._status_lock:
            changed = {name: s for name, s in found.items() if self._status.get(name) != s}
            self._status.update(found)
            status = dict(self._status)
            self._failed_at.update({name: time.monotonic() for name, s in found.items() if not s.ok})
        for name, state in changed.items():
            if state.ok:
                log.info("%s works", name)
            else:
                log.warning("%s does not work: %s", name, state.message)
        self._write_hardware_file(status)

    def _write_hardware_file(self, status: dict[str, DeviceStatus]) -> None:
        """What the sync service's heartbeat reports to the Kiosks page."""
        state: dict[str, Any] = {}
        for name, device in status.items():
            state[f"{name}_ok"] = device.ok
            state[f"{name}_message"] = device.message
        path = self._hardware_file
        try:
            write_atomically(path, json.dumps(state).encode())
        except OSError as error:  # a full disk must not break a visitor's answer
            log.warning("cannot write %s: %s", path, error)

    def _check_loop(self) -> None:
        interval = self.config.devices.check_seconds
        while not self._closing.is_set():
            failing = not all(s.ok for s in self.status().values())
            soon = failing and time.monotonic() < self._fast_until
            woken = self._wake.wait(min(interval, RECHECK_AFTER_FAILURE_SECONDS) if soon else interval)
            if self._closing.is_set():
                return
            if woken:
                self._wake.clear()
                # Let the failed attempt finish releasing the device before looking at it.
                if self._closing.wait(0.2):
                    return
            try:
                self.check()
            except Exception:  # the checks must outlive any one bad one
                log.exception("device check failed")

    # --- capture on and off ------------------------------------------------------------------

    def camera(self) -> Camera:
        with self._lock:
            if self._camera is None:
                cam = self.config.camera
                camera = open_camera(cam.source, cam.width, cam.height, cam.fps)
                try:
                    camera.start()
                except CameraError as error:
                    self._failed_to_open("camera", error)
                self._camera = camera
            return self._camera

    def microphone(self) -> Microphone:
        with self._lock:
            if self._microphone is None:
                mic = self.config.microphone
                microphone = SoundDeviceMicrophone(mic.device, samplerate=mic.samplerate)
                try:
                    microphone.start()
                except MicrophoneError as error:
                    self._failed_to_open("microphone", error)
                self._microphone = microphone
            return self._microphone

    def _failed_to_open(self, device: str, error: Exception) -> None:
        self._set({device: DeviceStatus(False, str(error)[:200])})
        self.request_check()
        raise DeviceError(str(error), device) from error

    def release(self) -> None:
        """The visitor is done: stop any recording and switch capture off."""
        self.abort_recording()
        with self._lock:
            camera, microphone = self._camera, self._microphone
            self._camera = self._microphone = None
        for device in (camera, microphone):
            if device is not None:
                device.close()

    def _drop(self, device: str) -> None:
        """Close a device that failed, so that the next use opens it afresh."""
        with self._lock:
            if device == "camera":
                dropped: Camera | Microphone | None = self._camera
                self._camera = None
            else:
                dropped = self._microphone
                self._microphone = None
        if dropped is not None:
            try:
                dropped.close()
            except Exception:
                log.exception("closing the failed %s", device)

    def preview_jpeg(self) -> bytes | None:
        with self._lock:
            camera = self._camera
        return camera.latest_jpeg() if camera is not None else None

    def level(self) -> float:
        with self._lock:
            microphone = self._microphone
        return microphone.level if microphone is not None else 0.0

    # --- the recording -----------------------------------------------------------------------

    def start_recording(
        self, recording_uuid: str, kind: str, path: Path, seal_to: bytes | None = None
    ) -> None:
        """Record now; with ``seal_to`` (the server's public key) the file is sealed to it."""
        camera = self.camera() if kind == "video" else None
        microphone = self.microphone()
        for name, device in (("camera", camera), ("microphone", microphone)):
            failure = device.failure if device is not None else None
            if failure is not None:
                self._drop(name)
                self.note_failure(name, failure)
                raise DeviceError(failure, name)
        with self._lock:
            if self._active is not None and self._active.recorder.live and not self._active.recorder.wait(0):
                raise DeviceError("a recording is already running")
            # A short queue (≈ 0.25 s of 720p) keeps the service under its memory budget on a Pi.
            recorder = Recorder(
                path,
                camera=camera,
                microphone=microphone,
                max_seconds=self.config.timeouts.max_answer_seconds,
                max_queued_frames=6,
                seal_to=seal_to,
                settings=self.settings,
            )
            recorder.start()
            self._active = ActiveRecording(recording_uuid, kind, recorder)

    def stop_recording(self, recording_uuid: str) -> RecordingResult:
        """Finish the recording; a take cut short by a failing device is kept and says which."""
        with self._lock:
            active = self._active
            if active is None or active.uuid != recording_uuid:
                raise DeviceError("no such recording is running")
            self._active = None
        try:
            result = active.recorder.stop()
        except RecorderError as error:
            failed = active.recorder.failed_device
            if failed is not None:
                self._after_device_failure(failed, str(error))
            raise DeviceError(str(error), failed) from error
        if result.failed_device is not None:
            self._after_device_failure(
                result.failed_device, f"the {result.failed_device} failed while recording"
            )
        return result

    def _after_device_failure(self, device: str, message: str) -> None:
        source = self._camera if device == "camera" else self._microphone
        failure = source.failure if source is not None else None
        self._drop(device)
        self.note_failure(device, failure or message)

    def failed_device(self) -> str | None:
        """The device that failed during the running recording, which then ended by itself."""
        with self._lock:
            active = self._active
        return active.recorder.failed_device if active is not None else None

    def recording_elapsed(self) -> float | None:
        with self._lock:
            active = self._active
        if active is None:
            return None
        return active.recorder.elapsed

    def abort_recording(self, recording_uuid: str | None = None) -> None:
        """Stop and throw away the running recording: the one named, or (``None``, when the
        visitor walks away) whichever runs. Another recording than the one named runs on."""
        with self._lock:
            active = self._active
            if active is None or (recording_uuid is not None and active.uuid != recording_uuid):
                return
            self._active = None
        active.recorder.abort()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        self.release()


def unavailable(status: dict[str, DeviceStatus]) -> list[str]:
    """The devices that do not work, in a fixed order (what a session records as the reason)."""
    return [name for name in DEVICE_NAMES if not status[name].ok]
