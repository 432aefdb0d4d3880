"""The kiosk's self-test: record two seconds from camera and microphone and say what works.

Used by ``python -m kiosk selftest`` and the heartbeat, so the messages are plain words that
whoever stands next to the kiosk can act on.
"""

from __future__ import annotations

import math
import shutil
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import av
import numpy as np

from kiosk.hardware.camera import Camera, CameraError, open_camera
from kiosk.hardware.microphone import (
    AudioBlock,
    Microphone,
    MicrophoneError,
    SoundDeviceMicrophone,
    dbfs,
)
from kiosk.hardware.profiles import RecorderProfile
from kiosk.hardware.recorder import EncoderSettings, Recorder, RecorderError, RecordingResult

# Below this the microphone gives (next to) digital silence: muted, unplugged or wrong device.
# A real microphone in a quiet room still hears -70 dBFS or so.
SILENCE_DBFS = -90.0

# Room for a few hours of answers at the encoder's few MB per minute.
MIN_FREE_BYTES = 1_000_000_000

# A picture whose mean brightness (0..255) is below this is black: lens covered or broken.
DARK_MEAN = 8.0


@dataclass(frozen=True)
class Check:
    ok: bool
    message: str


@dataclass(frozen=True)
class SelftestReport:
    camera: Check
    microphone: Check
    encoder: Check
    disk: Check
    microphone_level_dbfs: float | None = None
    disk_free_bytes: int | None = None
    # The recording profile this machine is fast enough for, when the selftest was given one.
    recorder: Check | None = None
    recorder_profile: dict[str, Any] | None = None

    def _checks(self) -> list[tuple[str, Check]]:
        checks = [
            ("camera", self.camera),
            ("microphone", self.microphone),
            ("encoder", self.encoder),
            ("disk", self.disk),
        ]
        return checks + ([("recorder", self.recorder)] if self.recorder is not None else [])

    @property
    def ok(self) -> bool:
        return all(check.ok for _, check in self._checks())

    def lines(self) -> list[str]:
        return [f"{name:<10} {'OK  ' if c.ok else 'FAIL'}  {c.message}" for name, c in self._checks()]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def as_dict(self) -> dict[str, Any]:
        """For JSON (the heartbeat): -inf dBFS becomes None."""
        data = asdict(self)
        level = self.microphone_level_dbfs
        data["microphone_level_dbfs"] = None if level is None or math.isinf(level) else level
        data["ok"] = self.ok
        return data


def run_selftest(
    camera_source: str | int,
    microphone_device: int | str | None,
    out_dir: str | Path,
    seconds: float = 2.0,
    *,
    width: int = 1280,
    height: int = 720,
    fps: float = 25.0,
    min_free_bytes: int = MIN_FREE_BYTES,
    profile: RecorderProfile | None = None,
) -> SelftestReport:
    """Record ``seconds`` from the camera and microphone into ``out_dir`` and report.

    The test recording is deleted afterwards. A part that fails is reported, not raised; the
    encoder is still tested with whatever works (with generated pictures if nothing does).
    With a recorder ``profile`` (kiosk.hardware.profiles) the recording uses it, and the report
    says whether this machine is fast enough for it.
    """
    out_dir = Path(out_dir)
    settings = profile.settings() if profile is not None else EncoderSettings()
    disk, free = _check_disk(out_dir, min_free_bytes)
    camera_part = open_camera(camera_source, width, height, fps)
    microphone_part = SoundDeviceMicrophone(microphone_device)
    try:
        camera_check = _start_camera(camera_part)
        camera = camera_part if camera_check.ok else None
        microphone_check = _start_microphone(microphone_part)
        microphone = microphone_part if microphone_check.ok else None

        heard: list[AudioBlock] = []
        if microphone is not None:
            microphone.add_listener(heard.append)
        encoder_check, result = _record(out_dir, camera, microphone, seconds, fps, settings)

        level: float | None = None
        if microphone is not None:
            microphone.remove_listener(heard.append)
            level = dbfs(np.concatenate([b.samples for b in heard])) if heard else -math.inf
            microphone_check = _judge_level(microphone, level)
        if camera is not None and result is not None:
            camera_check = _judge_frame_rate(camera, camera_check, result)
    finally:
        camera_part.close()
        microphone_part.close()
    return SelftestReport(
        camera=camera_check,
        microphone=microphone_check,
        encoder=encoder_check,
        disk=disk,
        microphone_level_dbfs=level,
        disk_free_bytes=free,
        recorder=None if profile is None else Check(profile.keeps_up, profile.summary()),
        recorder_profile=None if profile is None else profile.as_dict(),
    )


def _check_disk(out_dir: Path, min_free_bytes: int) -> tuple[Check, int | None]:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(out_dir).free
    except OSError as exc:
        return Check(False, f"cannot use {out_dir}: {exc}"), None
    if free < min_free_bytes:
        return Check(False, f"only {_size(free)} free in {out_dir}: answers may not fit"), free
    return Check(True, f"{_size(free)} free in {out_dir}"), free


def _start_camera(camera: Camera) -> Check:
    try:
        camera.start()
        frame = camera.read(timeout=5.0)
    except CameraError as exc:
        return Check(False, str(exc))
    brightness = float(frame.image.mean())
    if brightness < DARK_MEAN:
        return Check(False, f"camera {camera.name} gives a black picture: is the lens covered?")
    return Check(True, f"camera {camera.name} gives {camera.width}×{camera.height} pictures")


def _start_microphone(microphone: Microphone) -> Check:
    try:
        microphone.start()
    except MicrophoneError as exc:
        return Check(False, str(exc))
    return Check(True, f"microphone {microphone.name} is open")


def _record(
    out_dir: Path,
    camera: Camera | None,
    microphone: Microphone | None,
    seconds: float,
    fps: float,
    settings: EncoderSettings,
) -> tuple[Check, RecordingResult | None]:
    suffix = ".mp4" if camera is not None else ".m4a"
    path = out_dir / f"selftest-{uuid.uuid4().hex[:8]}{suffix}"
    try:
        if camera is None and microphone is None:
            result = _record_generated(path, seconds=min(seconds, 1.0), fps=fps, settings=settings)
        else:
            recorder = Recorder(
                path, camera=camera, microphone=microphone, max_seconds=seconds, settings=settings
            )
            recorder.start()
            recorder.wait(seconds + 10.0)  # it stops itself at max_seconds
            result = recorder.stop()
        check = _verify(result, video=camera is not None or microphone is None)
    except (RecorderError, av.FFmpegError, OSError) as exc:
        return Check(False, f"recording failed: {exc}"), None
    finally:
        for leftover in (path, path.with_name(path.name + ".part")):
            leftover.unlink(missing_ok=True)
    return check, result


def _record_generated(path: Path, seconds: float, fps: float, settings: EncoderSettings) -> RecordingResult:
    """Encode generated pictures: tests the encoder when no camera or microphone works."""
    from kiosk.hardware.synthetic import TalkingHeadSource

    source = TalkingHeadSource(640, 360, round(fps), noise_sigma=1.0)
    settings = replace(settings, width=640, height=360, fps=fps)
    with Recorder(path, video=True, audio=False, settings=settings) as recorder:
        recorder.start()
        for index in range(round(seconds * fps)):
            recorder.push_frame(source.frame(index), index / fps)
        return recorder.stop()


def _verify(result: RecordingResult, video: bool) -> Check:
    with av.open(str(result.path)) as container:
        codecs = [s.codec_context.name for s in container.streams]  # video first
        decoded = next(container.decode(container.streams[0]), None)
    if decoded is None:
        return Check(False, f"the test recording has no readable {'picture' if video else 'sound'}")
    per_minute = result.size / max(result.duration, 1e-6) * 60
    kinds = " + ".join(codecs)
    return Check(True, f"recorded {result.duration:.1f} s of {kinds} ({_size(per_minute)} per minute)")


def _judge_level(microphone: Microphone, level: float) -> Check:
    if level < SILENCE_DBFS:
        return Check(
            False,
            f"microphone {microphone.name} gives only silence: muted, unplugged or the wrong device?",
        )
    return Check(True, f"microphone {microphone.name} hears sound (level {level:.0f} dBFS)")


def _judge_frame_rate(camera: Camera, check: Check, result: RecordingResult) -> Check:
    if not check.ok or result.duration <= 0:
        return check
    rate = result.video_frames / result.duration
    if rate < camera.fps * 0.5:
        return Check(
            False,
            f"camera {camera.name} gives only {rate:.0f} pictures per second "
            f"(expected {camera.fps:g}): too little light, or a USB 1 port?",
        )
    return Check(True, f"{check.message} at {rate:.0f} per second")


def _size(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} bytes"
