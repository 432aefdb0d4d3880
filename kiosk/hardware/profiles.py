"""Recorder profiles: how big and how carefully this computer can encode answers in real time.

A kiosk runs on whatever the library has: a Raspberry Pi 4, an old office PC, a mini PC. The
recorder's defaults (720p, x264 ``veryfast``, one thread) keep up five times over on one core of
the development machine, not on a Pi 3 or on a PC that also runs the page. So the kiosk measures,
at start and in ``python -m kiosk selftest``, how fast this machine encodes a talking-head
picture, and picks the best profile (picture size, x264 preset, threads) that stays at least
:data:`REQUIRED_SPEED` times faster than real time with :data:`PAGE_HEADROOM` to spare for the page,
the camera preview and capture, which run beside the encoder during a recording.

A hardware H.264 encoder (a Pi 4's ``h264_v4l2m2m``) comes first when the FFmpeg in use offers it
and it really encodes a few frames here; otherwise, or when it fails, the software profiles
remain, and the profile says why the hardware one was not used.

The measurement is real (the recorder's own :class:`Mp4Writer`, into memory) and short: each
profile encodes :data:`MEASURE_SECONDS` of video and is given up as soon as it cannot reach the
speed any more, so a slow machine tries its way down in a few seconds. The result is kept in the
kiosk's data folder and used again until FFmpeg, the encoders on offer, the CPU, the CPU quota or
the camera's picture changes. Choosing is :func:`choose`, pure given its measuring function.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np

from durable import write_atomically
from kiosk.hardware.recorder import EncoderSettings, Mp4Writer, scaled_size

log = logging.getLogger(__name__)

# The floor: an answer is encoded at least 1.5 times faster than it is spoken.
REQUIRED_SPEED = 1.5
# The measurement runs alone; a recording shares the machine with the page, the preview and
# capture, which take about a third of a slow machine's CPU, so measured speed needs this more.
PAGE_HEADROOM = 1.5
MEASURED_MIN = REQUIRED_SPEED * PAGE_HEADROOM

# Video per profile tried: long enough for x264 to settle, short enough that trying every
# profile on a slow machine stays within a few seconds (a failing one stops early).
MEASURE_SECONDS = 1.2
# Distinct pictures generated for the measurement, then repeated: at 720p each is 2.7 MB, and
# generating them is slow under emulation. The encoder only compares a picture to the one before.
_DISTINCT_FRAMES = 8

HARDWARE_CODECS = ("h264_v4l2m2m",)
AUTO = "auto"
# Bumped when the candidates or the way of measuring change, so old caches are measured again.
_METHOD = 1


@dataclass(frozen=True)
class Candidate:
    """One way to encode: at most ``max_height`` lines, with ``codec`` (and x264's ``preset``)."""

    max_height: int
    preset: str = "veryfast"
    threads: int = 1
    codec: str = "libx264"

    @property
    def name(self) -> str:
        if self.codec != "libx264":
            return f"{self.max_height}p-{self.codec}"
        return f"{self.max_height}p-{self.preset}" + (f"-{self.threads}t" if self.threads > 1 else "")

    def settings(self, base: EncoderSettings) -> EncoderSettings:
        width, height = scaled_size(base.width, base.height, self.max_height)
        return replace(
            base,
            width=width,
            height=height,
            max_height=self.max_height,
            preset=self.preset,
            threads=self.threads,
            codec=self.codec,
        )


# Best first: picture size matters most to whoever watches the answers, then the preset (the
# faster presets cost up to twice the bytes), then a second thread (taken from the page).
_LADDER = {720: ("veryfast", "superfast"), 540: ("veryfast", "superfast"), 360: ("veryfast", "ultrafast")}
_SOFTWARE = [
    Candidate(height, preset, threads)
    for height, presets in _LADDER.items()
    for preset in presets
    for threads in (1, 2)
]
_HARDWARE = [Candidate(720, "", 1, codec) for codec in HARDWARE_CODECS]
KNOWN = {c.name: c for c in (*_HARDWARE, *_SOFTWARE)}


def software_candidates(cpus: int) -> list[Candidate]:
    """A second encoder thread only where two cores remain for the page and capture."""
    return [c for c in _SOFTWARE if c.threads == 1 or cpus >= 3]


@dataclass(frozen=True)
class Measurement:
    speed: float  # × real time
    bytes_per_minute: float  # of the encoded picture (0 when given up early)
    complete: bool  # False: given up once it could no longer reach the speed asked


@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    speed: float
    fast_enough: bool
    tried: list[tuple[str, float]]


def choose(candidates: Sequence[Candidate], measure: Callable[[Candidate], float], required: float) -> Choice:
    """The first candidate (best first) whose measured speed reaches ``required``; when none
    does, the fastest one tried, marked as not fast enough."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    tried: list[tuple[Candidate, float]] = []
    for candidate in candidates:
        speed = measure(candidate)
        tried.append((candidate, speed))
        if speed >= required:
            return Choice(candidate, speed, True, [(c.name, s) for c, s in tried])
    best, speed = max(tried, key=lambda pair: pair[1])
    return Choice(best, speed, False, [(c.name, s) for c, s in tried])


@dataclass(frozen=True)
class RecorderProfile:
    """The profile in use, as the selftest, the heartbeat and the Kiosks page tell it."""

    name: str
    codec: str
    preset: str
    threads: int
    width: int  # the encoded picture, for the camera's picture size
    height: int
    max_height: int
    speed: float | None  # measured × real time; None when forced by the configuration
    required: float  # the measured speed a profile needs
    how: str  # "measured", "cached" (measured before on this machine) or "forced"
    fast_enough: bool
    note: str = ""  # why the hardware encoder or a forced profile was not used
    fingerprint: str = ""
    measured_at: str = ""
    tried: list[tuple[str, float]] = field(default_factory=list)

    @property
    def keeps_up(self) -> bool:
        """Whether a recording keeps up with the camera at all (a forced profile is trusted)."""
        return self.speed is None or self.speed >= 1.0

    def settings(self, base: EncoderSettings | None = None) -> EncoderSettings:
        candidate = Candidate(self.max_height, self.preset, self.threads, self.codec)
        return candidate.settings(base or EncoderSettings())

    def summary(self) -> str:
        """One line, at most 200 characters (the heartbeat's limit)."""
        what = f"{self.codec}" + (f" {self.preset}" if self.preset else "")
        threads = f", {self.threads} threads" if self.threads > 1 else ""
        line = f"{self.name}: {what} {self.width}×{self.height}{threads}, {self.how}"
        if self.speed is not None:
            line += f", {self.speed:.1f}× real time"
            if not self.keeps_up:
                line += ": too slow to record video"
            elif not self.fast_enough:
                line += f", below the {self.required:.2g}× wanted"
        if self.note:
            line += f"; {self.note}"
        return line[:200]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.summary()
        return data


# --- measuring -----------------------------------------------------------------------------------


def talking_head_frames(width: int, height: int, fps: float) -> list[np.ndarray]:
    from kiosk.hardware.synthetic import TalkingHeadSource

    source = TalkingHeadSource(width, height, max(1, round(fps)), noise_sigma=1.0)
    return [source.frame(index) for index in range(_DISTINCT_FRAMES)]


def measure(
    candidate: Candidate,
    frames: Sequence[np.ndarray],
    fps: float,
    seconds: float = MEASURE_SECONDS,
    give_up_below: float | None = None,
) -> Measurement:
    """Encode ``seconds`` of ``frames`` (camera-sized BGR pictures, repeated) the way a recording
    would, into memory, and return the speed in × real time (wall clock: what counts when the
    machine is busy or its CPU share is capped). With ``give_up_below``, stop as soon as that speed
    can no longer be reached and return the speed so far."""
    height, width = frames[0].shape[:2]
    settings = candidate.settings(EncoderSettings(width=width, height=height, fps=fps))
    count = max(2, round(seconds * fps))
    video_seconds = count / fps
    deadline = video_seconds / give_up_below if give_up_below else float("inf")
    out = io.BytesIO()
    writer = Mp4Writer(out, settings, video=True, audio=False)
    started = time.perf_counter()
    try:
        for index in range(count):
            writer.write_frame(frames[index % len(frames)], index / fps)
            elapsed = time.perf_counter() - started
            if elapsed > deadline:
                writer.abort()
                return Measurement((index + 1) / fps / elapsed, 0.0, complete=False)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    elapsed = time.perf_counter() - started
    return Measurement(video_seconds / elapsed, out.tell() / video_seconds * 60, complete=True)


def hardware_problem(codec: str, width: int = 640, height: int = 360, fps: float = 25.0) -> str | None:
    """None when ``codec`` really encodes here (it is offered and a few frames go through);
    otherwise why not, in words for the Kiosks page."""
    if not offered(codec):
        return f"{codec} is not offered by this FFmpeg (libavcodec {_libavcodec()})"
    frames = [np.full((height, width, 3), 96 + 8 * i, np.uint8) for i in range(5)]
    try:
        settings = EncoderSettings(width=width, height=height, fps=fps, codec=codec)
        writer = Mp4Writer(io.BytesIO(), settings, video=True, audio=False)
        try:
            for index, image in enumerate(frames):
                writer.write_frame(image, index / fps)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return f"{codec} fails here ({reason[:60]})"
    return None


# --- the machine, for the cache ------------------------------------------------------------------


def _libavcodec() -> str:
    version = av.library_versions.get("libavcodec", ())
    return ".".join(str(part) for part in version) or "?"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_quota() -> float | None:
    """The CPU share this process may use by its cgroup (cores), or None when unlimited."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: "max 100000" or "25000 100000"
            text = _read(Path("/sys/fs/cgroup") / path.lstrip("/") / "cpu.max")
            if text and not text.startswith("max"):
                quota, period = text.split()[:2]
                return int(quota) / int(period)
        elif "cpu" in controllers.split(","):
            base = Path("/sys/fs/cgroup") / controllers / path.lstrip("/")
            quota, period = _read(base / "cpu.cfs_quota_us"), _read(base / "cpu.cfs_period_us")
            if quota and period and int(quota) > 0:
                return int(quota) / int(period)
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cpu_model() -> str:
    text = _read(Path("/proc/cpuinfo")) or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("model name", "hardware", "cpu model", "model"):
            return value.strip()
    return platform.processor() or "?"


def fingerprint(width: int, height: int, fps: float) -> str:
    """What a measured profile depends on; a change means measuring again."""
    facts = {
        "method": _METHOD,
        "pyav": av.__version__,
        "libavcodec": _libavcodec(),
        "hardware_codecs": [codec for codec in HARDWARE_CODECS if offered(codec)],
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpus": usable_cpus(),
        "quota": cpu_quota(),
        "camera": [width, height, fps],
        "required": MEASURED_MIN,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def offered(codec: str) -> bool:
    """Whether the FFmpeg in use has an encoder by this name (it may still fail to open)."""
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # PyAV names the error differently across versions
        return False
    return True


# --- the profile in use --------------------------------------------------------------------------


def recorder_profile(
    cache: Path | None,
    setting: str = AUTO,
    *,
    width: int = 1280,
    height: int = 720,
    fps: float = 25.0,
    remeasure: bool = False,
    measure_speed: Callable[[Candidate], float] | None = None,
) -> RecorderProfile:
    """The profile to record with: ``setting`` names one (see :data:`KNOWN`) or is ``"auto"``.

    ``auto`` uses the profile measured before on this machine when nothing it depends on changed
    (kept in the file ``cache``, which also tells the heartbeat), and measures otherwise. A forced
    hardware profile whose encoder does not work here falls back to measuring, and says so.
    ``measure_speed`` replaces the measurement (tests give it a slower machine's figures); what it
    gives is not kept.
    """
    if setting != AUTO and setting not in KNOWN:
        raise ValueError(f"unknown recorder profile {setting!r} (known: auto, {', '.join(KNOWN)})")
    machine = fingerprint(width, height, fps)
    note = ""
    if setting != AUTO:
        forced = KNOWN[setting]
        problem = hardware_problem(forced.codec, fps=fps) if forced.codec != "libx264" else None
        if problem is None:
            profile = _profile(forced, width, height, fps, None, "forced", True, "", machine, [])
            _keep(cache, profile)
            return profile
        note = f"asked for {setting}, but {problem}; measured instead"
    elif cache is not None and not remeasure and measure_speed is None:
        kept = _kept(cache)
        if kept is not None and kept.fingerprint == machine and kept.how in ("measured", "cached"):
            return replace(kept, how="cached")

    candidates: list[Candidate] = []
    for hardware in _HARDWARE:
        problem = hardware_problem(hardware.codec, fps=fps)
        if problem is None:
            candidates.append(hardware)
        elif not note:
            note = f"no hardware encoder: {problem}"
    candidates += software_candidates(usable_cpus())
    injected = measure_speed is not None
    if measure_speed is None:
        frames = talking_head_frames(width, height, fps)

        def measure_speed(candidate: Candidate) -> float:
            return measure(candidate, frames, fps, give_up_below=MEASURED_MIN).speed

    started = time.perf_counter()
    choice = choose(candidates, measure_speed, MEASURED_MIN)
    log.info(
        "recorder profile %s at %.1f× real time, measured in %.1f s (%s)",
        choice.candidate.name,
        choice.speed,
        time.perf_counter() - started,
        ", ".join(f"{name} {speed:.1f}×" for name, speed in choice.tried),
    )
    profile = _profile(
        choice.candidate,
        width,
        height,
        fps,
        choice.speed,
        "measured",
        choice.fast_enough,
        note,
        machine,
        choice.tried,
    )
    if not injected:  # figures a test made up are no measurement of this machine
        _keep(cache, profile)
    return profile


def recorder_profile_apart(cache: Path | None, setting: str = AUTO, **kwargs: Any) -> RecorderProfile:
    """:func:`recorder_profile` in a process of its own, for the long-running kiosk service.

    Measuring generates pictures and opens encoders: about 20 MB that the service's allocator would
    keep for the rest of its life (measured: 135 MB idle after a measuring start, 116 MB after a
    forced profile). A child process gives it all back when it ends.
    """
    context = multiprocessing.get_context("spawn")  # not fork: the parent may hold threads
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(recorder_profile, cache, setting, **kwargs).result()


def _profile(
    candidate: Candidate,
    width: int,
    height: int,
    fps: float,
    speed: float | None,
    how: str,
    fast_enough: bool,
    note: str,
    machine: str,
    tried: list[tuple[str, float]],
) -> RecorderProfile:
    settings = candidate.settings(EncoderSettings(width=width, height=height, fps=fps))
    return RecorderProfile(
        name=candidate.name,
        codec=candidate.codec,
        preset=candidate.preset,
        threads=candidate.threads,
        width=settings.width,
        height=settings.height,
        max_height=candidate.max_height,
        speed=None if speed is None else round(speed, 2),
        required=MEASURED_MIN,
        how=how,
        fast_enough=fast_enough,
        note=note,
        fingerprint=machine,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tried=[(name, round(s, 2)) for name, s in tried],
    )


def _keep(cache: Path | None, profile: RecorderProfile) -> None:
    """Written whole or not at all: the sync service reads it for the heartbeat."""
    if cache is None:
        return
    try:
        write_atomically(cache, json.dumps(profile.as_dict()).encode())
    except OSError:
        log.warning("cannot keep the recorder profile in %s", cache, exc_info=True)


def _kept(cache: Path) -> RecorderProfile | None:
    try:
        data = json.loads(cache.read_text())
        data.pop("summary", None)
        data["tried"] = [(str(name), float(speed)) for name, speed in data.get("tried", [])]
        profile = RecorderProfile(**data)
    except (OSError, ValueError, TypeError):
        return None
    return profile if profile.name in KNOWN else None
