"""The camera, microphone and the one recording in progress, owned by the kiosk service.

The camera and microphone run only while a visitor who consented is answering, so the kiosk
does not film an empty hall. One recording at a time: a kiosk has one visitor.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import KioskConfig
from kiosk.hardware import (
    Camera,
    EncoderSettings,
    Microphone,
    Recorder,
    RecorderError,
    RecordingResult,
    SoundDeviceMicrophone,
    open_camera,
)


@dataclass
class ActiveRecording:
    uuid: str
    kind: str  # video | voice
    recorder: Recorder


class DeviceError(RuntimeError):
    pass


class Devices:
    def __init__(self, config: KioskConfig, settings: EncoderSettings | None = None) -> None:
        self.config = config
        self.settings = settings  # the recorder profile measured at start; None: the defaults
        self._lock = threading.Lock()
        self._camera: Camera | None = None
        self._microphone: Microphone | None = None
        self._active: ActiveRecording | None = None

    # --- capture on and off ------------------------------------------------------------------

    def camera(self) -> Camera:
        with self._lock:
            if self._camera is None:
                cam = self.config.camera
                camera = open_camera(cam.source, cam.width, cam.height, cam.fps)
                camera.start()
                self._camera = camera
            return self._camera

    def microphone(self) -> Microphone:
        with self._lock:
            if self._microphone is None:
                mic = self.config.microphone
                microphone = SoundDeviceMicrophone(mic.device, samplerate=mic.samplerate)
                microphone.start()
                self._microphone = microphone
            return self._microphone

    def release(self) -> None:
        """The visitor is done: stop any recording and switch capture off."""
        self.abort_recording()
        with self._lock:
            camera, microphone = self._camera, self._microphone
            self._camera = self._microphone = None
        for device in (camera, microphone):
            if device is not None:
                device.close()

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
        with self._lock:
            active = self._active
            if active is None or active.uuid != recording_uuid:
                raise DeviceError("no such recording is running")
            self._active = None
        try:
            return active.recorder.stop()
        except RecorderError as error:
            raise DeviceError(str(error)) from error

    def recording_elapsed(self) -> float | None:
        with self._lock:
            active = self._active
        if active is None:
            return None
        return active.recorder.elapsed

    def abort_recording(self) -> None:
        with self._lock:
            active, self._active = self._active, None
        if active is not None:
            active.recorder.abort()

    def close(self) -> None:
        self.release()
