"""Recording answers: H.264 video and AAC sound in fragmented MP4, with PyAV.

Two layers:

* :class:`Mp4Writer` turns timestamped pictures and sound blocks into a file. It runs on one
  thread and knows nothing of cameras or threads; the benchmark drives it directly.
* :class:`Recorder` is what the kiosk uses for one answer: it listens to a camera and a
  microphone (or takes pushed frames and blocks), encodes on its own thread, stops itself at a
  maximum length, and leaves either a finished file under its final name or nothing at all.

Fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``) writes a small header first and
then self-contained fragments of about one second, so a file cut by a power loss still plays up
to its last complete fragment; a plain MP4 keeps its index at the end and is unreadable when cut.

Sealing: given the server's public key (``seal_to``), the recorder writes the file through a
:class:`mediaseal.SealingWriter`, so not one byte of picture or sound reaches the SD card in the
clear; PyAV writes fragmented MP4 without seeking, so it can write into that stream. The result
then carries the recording's own key (for the visitor's review) and the sha256 of the plaintext,
computed while writing. Without ``seal_to`` (a standalone kiosk) the file is plain MP4 as before.

Sync: pictures and sound are stamped on one clock when they are captured
(:mod:`kiosk.hardware.clock`). Presentation times are those timestamps minus the recording's
origin, the capture time of its first picture, so both tracks start together and stay aligned.
(Both start 21 ms in, after the AAC encoder's priming; see :data:`AAC_PRIMING`.)
"""

from __future__ import annotations

import enum
import logging
import math
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

import av
import cv2
import numpy as np

from durable import fsync_directory
from kiosk.hardware.camera import Camera, CameraError, Frame
from kiosk.hardware.clock import now
from kiosk.hardware.microphone import AudioBlock, Microphone, MicrophoneError, to_float32
from mediaseal import HashingWriter, Sealed, SealingWriter

log = logging.getLogger(__name__)

# Fine enough to keep each picture's capture time exactly (MPEG's usual 90 kHz clock).
VIDEO_TIME_BASE = Fraction(1, 90000)

# FFmpeg's AAC encoder puts this many samples of silence ("priming") before the sound. A plain
# MP4 hides them with an edit list; a fragmented one cannot, so both tracks start this late.
AAC_PRIMING = 1024

# Sound whose timestamp is off by less than this from where it is expected is written as is:
# timestamps jitter a little; only real gaps or overlaps are padded or cut.
_AUDIO_TOLERANCE = 0.02

# After stop, how long to wait for the sound up to the stop moment to come out of the driver.
_AUDIO_GRACE = 0.5

# How often the file is forced to disk while recording, so a power loss loses little.
_SYNC_INTERVAL = 2.0


class RecorderError(RuntimeError):
    """A recording could not be started, or failed, or was not finished."""


@dataclass(frozen=True)
class EncoderSettings:
    """How answers are encoded. The defaults meet the budgets in docs/budgets.md on one core.

    ``veryfast`` at CRF 23 gives about 3.5 MB per minute at SSIM 0.975 on a talking-head
    picture and encodes five times faster than real time on one core here
    (``bench/bench_recorder.py --sweep``); the faster presets cost twice the bytes or more.
    """

    width: int = 1280
    height: int = 720
    fps: float = 25.0
    preset: str = "veryfast"
    crf: int = 23
    keyframe_seconds: float = 1.0  # = fragment length: what a cut file may lose at most
    threads: int = 1  # the Pi's other cores capture, serve the UI and sync
    # Each frame of lookahead holds about 3 MB at 720p. 3 frames instead of veryfast's 10 save
    # 20 MB and cost nothing measurable on a talking head (3.3 MB/min, SSIM 0.974); without
    # any, x264 drops its macroblock tree and the file doubles. Extra libx264 options go here
    # as "key=value:key=value".
    x264_params: str = "rc-lookahead=3"
    audio_bitrate: int = 64_000  # mono speech
    samplerate: int = 48_000
    channels: int = 1
    # The H.264 encoder: libx264, or a hardware one such as a Pi 4's h264_v4l2m2m (which knows
    # no preset or CRF, only a bit rate: video_bitrate).
    codec: str = "libx264"
    video_bitrate: int = 1_500_000
    # A live recording is encoded at the camera's size, scaled down (same shape) to at most this
    # height when set: the recorder profile of a slow computer (kiosk.hardware.profiles).
    max_height: int | None = None


def scaled_size(width: int, height: int, max_height: int | None) -> tuple[int, int]:
    """``width`` × ``height`` scaled down to ``max_height`` at the same shape, in even numbers
    (4:2:0 pictures have half-size colour planes)."""
    if max_height is None or height <= max_height:
        return width, height
    return max(2, round(width * max_height / height / 2) * 2), max(2, max_height // 2 * 2)


class Mp4Writer:
    """Timestamped pictures and sound in, fragmented MP4 out. Feed it from one thread only.

    The origin (presentation time zero) is the first picture's timestamp, or, without video,
    the first sound's unless set beforehand. Sound from before the origin is cut off, a late
    start or a gap is filled with silence, so the sound track is continuous and starts with
    the picture. Set :attr:`end` to drop everything captured after that moment.
    """

    def __init__(
        self,
        file: BinaryIO | HashingWriter | str | Path,
        settings: EncoderSettings,
        *,
        video: bool,
        audio: bool,
    ) -> None:
        if not (video or audio):
            raise ValueError("a recording needs video, audio or both")
        self.settings = settings
        self.origin: float | None = None
        self.end: float | None = None
        self.frames = 0
        self.samples = 0  # sound samples written, silence included
        self.audio_start_gap: float | None = None  # first sound's time minus the origin
        self._last_pts = -1
        # Without the shift the muxer would push the priming's negative time onto the video.
        self._lead_pts = round(AAC_PRIMING / settings.samplerate / VIDEO_TIME_BASE) if audio else 0
        self._pending_audio: deque[tuple[np.ndarray, float]] = deque()
        movflags = "frag_keyframe+empty_moov+default_base_moof"
        options = {"movflags": movflags}
        if not video:
            # frag_keyframe only cuts at video keyframes; sound alone needs a time limit.
            options["frag_duration"] = str(round(settings.keyframe_seconds * 1_000_000))
        target = str(file) if isinstance(file, str | Path) else file
        self._container = av.open(target, "w", format="mp4", options=options)
        try:
            self._video = self._add_video_stream() if video else None
            self._audio = self._add_audio_stream() if audio else None
        except Exception:
            self._container.close()
            raise

    def _add_video_stream(self) -> av.VideoStream:
        s = self.settings
        rate = Fraction(round(s.fps * 1000), 1000)
        if s.codec == "libx264":
            options = {
                "preset": s.preset,
                "crf": str(s.crf),
                # No B-frames: without an edit list (impossible with an empty moov) their
                # reordering delay would start the picture two frames after the sound.
                "x264-params": ":".join(["bframes=0", *filter(None, [s.x264_params])]),
            }
        else:
            options = {}
        stream = self._container.add_stream(s.codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = s.width, s.height, "yuv420p"
        context = stream.codec_context
        if s.codec != "libx264":
            context.bit_rate = s.video_bitrate
            context.max_b_frames = 0
        context.time_base = VIDEO_TIME_BASE
        context.gop_size = max(1, round(s.fps * s.keyframe_seconds))
        context.thread_count = s.threads
        return stream

    def _add_audio_stream(self) -> av.AudioStream:
        s = self.settings
        layout = "mono" if s.channels == 1 else "stereo"
        stream = self._container.add_stream("aac", rate=s.samplerate, layout=layout)
        stream.codec_context.bit_rate = s.audio_bitrate
        return stream

    @property
    def duration(self) -> float:
        """Seconds written so far: the longer of the two tracks."""
        video = 0.0
        if self.frames:
            video = float((self._last_pts - self._lead_pts) * VIDEO_TIME_BASE) + 1 / self.settings.fps
        return max(video, self.samples / self.settings.samplerate)

    def write_frame(self, image: np.ndarray, timestamp: float) -> bool:
        """Encode a BGR picture captured at ``timestamp``; False if it was left out."""
        if self._video is None:
            raise RecorderError("this recording has no video")
        if self.origin is None:
            self.origin = timestamp
        if timestamp < self.origin or (self.end is not None and timestamp >= self.end):
            return False
        pts = self._lead_pts + round((timestamp - self.origin) / VIDEO_TIME_BASE)
        if pts <= self._last_pts:  # two pictures with one timestamp: keep the first
            return False
        s = self.settings
        if image.shape[0] != s.height or image.shape[1] != s.width:
            image = cv2.resize(image, (s.width, s.height), interpolation=cv2.INTER_AREA)
        # OpenCV's conversion is several times faster than PyAV's swscale for this.
        yuv: np.ndarray = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        self._container.mux(self._video.encode(frame))
        self._last_pts = pts
        self.frames += 1
        while self._pending_audio:
            self._write_audio_now(*self._pending_audio.popleft())
        return True

    def write_audio(self, samples: np.ndarray, timestamp: float) -> None:
        """Encode sound (frames × channels) whose first sample was captured at ``timestamp``."""
        if self._audio is None:
            raise RecorderError("this recording has no audio")
        if self.origin is None:
            if self._video is not None:
                # Wait for the first picture to fix the origin; keep a second of sound.
                self._pending_audio.append((samples, timestamp))
                while timestamp - self._pending_audio[0][1] > 1.0:
                    self._pending_audio.popleft()
                return
            self.origin = timestamp
        self._write_audio_now(samples, timestamp)

    def _write_audio_now(self, samples: np.ndarray, timestamp: float) -> None:
        assert self.origin is not None
        rate = self.settings.samplerate
        if samples.ndim == 1:
            samples = samples[:, None]
        expected = self.origin + self.samples / rate
        offset = timestamp - expected
        if self.audio_start_gap is None:
            self.audio_start_gap = timestamp - self.origin
        # The first sound written is placed exactly; later blocks may jitter a little.
        tolerance = _AUDIO_TOLERANCE if self.samples else 0.0
        if offset > tolerance:
            self._encode_audio(np.zeros((round(offset * rate), samples.shape[1]), np.float32))
        elif offset < -tolerance:
            samples = samples[round(-offset * rate) :]
        if self.end is not None:
            room = round((self.end - self.origin) * rate) - self.samples
            samples = samples[: max(0, room)]
        if len(samples):
            self._encode_audio(to_float32(samples))

    def _encode_audio(self, samples: np.ndarray) -> None:
        assert self._audio is not None
        if not len(samples):
            return
        layout = "mono" if samples.shape[1] == 1 else "stereo"
        planar = np.ascontiguousarray(samples.T)  # AAC wants one plane per channel
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.sample_rate = self.settings.samplerate
        frame.pts = AAC_PRIMING + self.samples  # the priming goes in front, at zero
        frame.time_base = Fraction(1, self.settings.samplerate)
        self._container.mux(self._audio.encode(frame))
        self.samples += len(samples)

    def close(self) -> float:
        """Flush the encoders and finish the file; returns its duration in seconds."""
        if self._video is not None and self._audio is not None and self.frames:
            # Players expect sound under the whole picture, also when the microphone failed.
            missing = round(self.duration * self.settings.samplerate) - self.samples
            if missing > self.settings.samplerate * _AUDIO_TOLERANCE:
                self._encode_audio(np.zeros((missing, self.settings.channels), np.float32))
        for stream in (self._video, self._audio):
            if stream is not None:
                self._container.mux(stream.encode(None))
        self._container.close()
        return self.duration

    def abort(self) -> None:
        """Close without flushing (the caller throws the file away)."""
        try:
            self._container.close()
        except Exception:  # a broken file is going away anyway
            log.debug("closing an aborted recording failed", exc_info=True)


@dataclass(frozen=True)
class RecordingResult:
    path: Path
    sha256: str
    duration: float  # seconds
    size: int  # bytes
    video_frames: int
    dropped_frames: int  # pictures left out because encoding fell behind
    first_frame_latency: float | None  # start() → capture of the first picture, live only
    audio_start_gap: float | None  # first sound's capture minus first picture's (s)
    stopped_by: str  # "stop", "max_length" or "device_failed"
    # Set when the file is sealed: then sha256 and size are those of the recording inside.
    sealed: Sealed | None = None
    # "camera" or "microphone" when that device failed during the recording, which then ended
    # with what was recorded up to the failure.
    failed_device: str | None = None


class RecorderState(enum.Enum):
    NEW = "new"
    RECORDING = "recording"
    FINISHED = "finished"
    FAILED = "failed"
    ABORTED = "aborted"


class _Aborted(Exception):
    pass


class Recorder:
    """Records one answer to ``path`` (``.mp4`` for video, ``.m4a`` for a voice answer).

    Give it a ``camera`` and/or a ``microphone`` to record them live (they are started if they
    are not running, and then stopped again at the end), or say ``video=True`` / ``audio=True``
    without a source and feed it with :meth:`push_frame` / :meth:`push_audio`.

    Live: :meth:`start` is the moment of the tap. Pictures and sound captured before it are
    left out, so the first picture is the one captured within a frame interval after it; and
    :meth:`stop` ends the recording at the moment it is called. Pushed data carries its own
    timestamps and is all kept.

    While recording, the file grows under ``path + ".part"``, fsynced every two seconds. On a
    clean stop it is fsynced and renamed to ``path``; after an abort or an error nothing is
    left. After a power loss the ``.part`` file remains, playable up to its last fragment.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        camera: Camera | None = None,
        microphone: Microphone | None = None,
        video: bool | None = None,
        audio: bool | None = None,
        settings: EncoderSettings | None = None,
        max_seconds: float = 120.0,
        on_finished: Callable[[Recorder], None] | None = None,
        max_queued_frames: int = 12,
        start_timeout: float = 3.0,
        seal_to: bytes | None = None,
    ) -> None:
        self.path = Path(path)
        self.seal_to = seal_to  # the server's public key: the file is sealed to it
        self.temp_path = self.path.with_name(self.path.name + ".part")
        self.camera = camera
        self.microphone = microphone
        self.video = camera is not None if video is None else video
        self.audio = microphone is not None if audio is None else audio
        if not (self.video or self.audio):
            raise ValueError("a Recorder needs video, audio or both")
        if (video is False and camera is not None) or (audio is False and microphone is not None):
            raise ValueError("a source was given for a track that is switched off")
        self.settings = settings or EncoderSettings()
        self.max_seconds = max_seconds
        self.on_finished = on_finished
        self.max_queued_frames = max_queued_frames  # 12 frames of 720p ≈ 33 MB
        self.start_timeout = start_timeout

        self._control = threading.Lock()  # start, stop and abort one at a time
        self._cond = threading.Condition()  # guards the inbox and the state
        self._inbox: deque[Frame | AudioBlock] = deque()
        self._queued_frames = 0
        self._state = RecorderState.NEW
        self._stop_at: float | None = None  # math.inf: stop after everything pushed
        self._stopped_by = "stop"
        self._abort = False
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._owned: list[Camera | Microphone] = []
        self._file: BinaryIO | None = None
        self._sealer: SealingWriter | None = None
        self._hasher: HashingWriter | None = None
        self._writer: Mp4Writer | None = None
        self._started_at = 0.0
        self._first_frame_at: float | None = None
        self._first_audio_at: float | None = None
        self._audio_end: float | None = None
        self._last_frame_at: float | None = None
        self._dropped = 0
        self._last_sync = 0.0
        self._result: RecordingResult | None = None
        self._error: BaseException | None = None
        self._failed_device: str | None = None

    @property
    def live(self) -> bool:
        return self.camera is not None or self.microphone is not None

    @property
    def state(self) -> RecorderState:
        return self._state

    @property
    def result(self) -> RecordingResult | None:
        return self._result

    @property
    def error(self) -> BaseException | None:
        return self._error

    @property
    def failed_device(self) -> str | None:
        """ "camera" or "microphone" once that device failed while recording, else None."""
        return self._failed_device

    @property
    def elapsed(self) -> float:
        """Seconds recorded so far (for the ring that shows the time left)."""
        writer = self._writer
        return writer.duration if writer is not None else 0.0

    # -- control (any thread) ------------------------------------------------------------------

    def start(self) -> None:
        """Start recording now. A Recorder records once."""
        with self._control:  # a stop or abort from another thread waits until we are going
            self._start()

    def _start(self) -> None:
        with self._cond:
            if self._state is not RecorderState.NEW:
                raise RecorderError(f"this recorder is {self._state.value}; make a new one")
            self._state = RecorderState.RECORDING
            self._started_at = now()
        try:
            self._start_sources()
            settings = self.settings
            if self.camera is not None:  # the camera knows its real size and rate by now
                width, height = scaled_size(self.camera.width, self.camera.height, settings.max_height)
                settings = replace(settings, width=width, height=height, fps=self.camera.fps)
            if self.microphone is not None:
                settings = replace(
                    settings,
                    samplerate=self.microphone.samplerate,
                    channels=self.microphone.channels,
                )
            self.settings = settings
            self._file = open(self.temp_path, "wb")  # noqa: SIM115 - closed by the thread
            target: HashingWriter | SealingWriter
            if self.seal_to is not None:
                target = self._sealer = SealingWriter(self._file, self.seal_to)
            else:
                target = self._hasher = HashingWriter(self._file)
            self._writer = Mp4Writer(target, settings, video=self.video, audio=self.audio)
            if self.live and not self.video:
                self._writer.origin = self._started_at  # a voice answer starts at the tap
        except Exception as exc:
            self._fail_start()
            if isinstance(exc, CameraError | MicrophoneError | OSError | av.FFmpegError):
                raise RecorderError(f"cannot start recording {self.path.name}: {exc}") from exc
            raise
        self._last_sync = now()
        self._thread = threading.Thread(target=self._run, name=f"recorder {self.path.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> RecordingResult:
        """Finish the recording and return what was written. Safe to call again."""
        with self._control, self._cond:
            if self._state is RecorderState.NEW:
                raise RecorderError("the recording was not started")
            if self._stop_at is None and not self._abort:
                self._stop_at = now() if self.live else math.inf
                self._cond.notify_all()
        self._join(timeout)
        if self._result is not None:
            return self._result
        if self._error is not None:
            raise RecorderError(f"recording {self.path.name} failed: {self._error}") from self._error
        if self._state is RecorderState.ABORTED:
            raise RecorderError(f"recording {self.path.name} was thrown away")
        raise RecorderError(f"recording {self.path.name} did not finish within {timeout:.0f} s")

    def abort(self, timeout: float = 10.0) -> None:
        """Throw the recording away: nothing is left on disk. Does nothing once finished."""
        with self._control, self._cond:
            if self._state is RecorderState.NEW:
                self._state = RecorderState.ABORTED
                self._done.set()
                return
            self._abort = True
            self._cond.notify_all()
        self._join(timeout)

    def close(self) -> None:
        """Abort unless finished, and release everything. Safe to call twice."""
        self.abort()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the recording has ended (stopped, at its maximum length, or failed)."""
        return self._done.wait(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- data in ---------------------------------------------------------------------------------

    def push_frame(self, image: np.ndarray, timestamp: float, timeout: float = 5.0) -> bool:
        """Hand over a picture; waits while the encoder is behind. False if not taken."""
        return self._enqueue(Frame(image, timestamp), block=True, timeout=timeout)

    def push_audio(self, samples: np.ndarray, timestamp: float) -> bool:
        """Hand over sound (frames × channels) whose first sample was captured at ``timestamp``."""
        block = AudioBlock(samples, timestamp, self.settings.samplerate)
        return self._enqueue(block, block=False)

    def _on_frame(self, frame: Frame) -> None:
        # On the camera's thread: never wait here, or the preview would stutter.
        if frame.timestamp >= self._started_at:
            self._enqueue(frame, block=False)

    def _on_audio(self, block: AudioBlock) -> None:
        if block.timestamp + block.duration > self._started_at:
            self._enqueue(block, block=False)

    def _enqueue(self, item: Frame | AudioBlock, block: bool, timeout: float = 5.0) -> bool:
        is_frame = isinstance(item, Frame)
        deadline = now() + timeout
        with self._cond:
            while True:
                if self._state is not RecorderState.RECORDING:
                    return False
                if self._stop_at is not None and item.timestamp >= self._stop_at:
                    return False  # sound up to the stop moment is still welcome
                if not is_frame or self._queued_frames < self.max_queued_frames:
                    break
                remaining = deadline - now()
                if not block or remaining <= 0:
                    self._dropped += 1
                    return False
                self._cond.wait(remaining)
            self._inbox.append(item)
            self._queued_frames += is_frame
            self._cond.notify_all()
        return True

    # -- the encoding thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    if not self._inbox and not self._abort and not self._ready_to_finish():
                        self._cond.wait(0.05)  # also wakes to check the time-outs
                    items = list(self._inbox)
                    self._inbox.clear()
                    self._queued_frames = 0
                    self._cond.notify_all()  # room for waiting pushers
                    if self._abort:
                        raise _Aborted
                    stop_at = self._stop_at
                if self._writer is not None and stop_at is not None:
                    self._writer.end = None if math.isinf(stop_at) else stop_at
                for item in items:
                    self._write(item)
                self._check_started()
                self._check_sources()
                self._sync_to_disk()
                with self._cond:
                    if not self._inbox and self._ready_to_finish():
                        break
            result = self._finish()
            self._end(RecorderState.FINISHED, result=result)
        except _Aborted:
            self._discard()
            self._end(RecorderState.ABORTED)
        except Exception as exc:
            log.exception("recording %s failed", self.path.name)
            self._discard()
            self._end(RecorderState.FAILED, error=exc)
        finally:
            self._release_sources()
            self._done.set()
            if self.on_finished is not None:
                try:
                    self.on_finished(self)
                except Exception:
                    log.exception("recording %s: on_finished failed", self.path.name)

    def _end(
        self,
        state: RecorderState,
        result: RecordingResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        with self._cond:
            self._state, self._result, self._error = state, result, error
            self._cond.notify_all()  # pushers waiting for room give up

    def _write(self, item: Frame | AudioBlock) -> None:
        writer = self._writer
        assert writer is not None
        if isinstance(item, Frame):
            reached = item.timestamp
            self._check_length(writer, reached)  # before writing: the writer drops what is late
            if writer.write_frame(item.image, item.timestamp):
                self._last_frame_at = item.timestamp
                if self._first_frame_at is None:
                    self._first_frame_at = item.timestamp
        else:
            reached = item.timestamp + item.duration
            self._check_length(writer, reached)
            writer.write_audio(item.samples, item.timestamp)
            if self._first_audio_at is None:
                self._first_audio_at = item.timestamp
            self._audio_end = max(self._audio_end or reached, reached)
        self._check_length(writer, reached)  # the first item has only now set the origin

    def _check_length(self, writer: Mp4Writer, reached: float) -> None:
        """Stop at the maximum length once data reaches it."""
        if writer.origin is None or reached - writer.origin < self.max_seconds:
            return
        limit = writer.origin + self.max_seconds
        with self._cond:
            if self._stop_at is None or limit < self._stop_at:
                self._stop_at, self._stopped_by = limit, "max_length"
                writer.end = limit

    def _ready_to_finish(self) -> bool:
        """Whether everything up to the stop moment is in (call with the lock held)."""
        if self._stop_at is None:
            return False
        if math.isinf(self._stop_at) or not self.audio or self.microphone is None:
            return True
        # Sound reaches us a little after it was captured: wait for it up to the stop moment.
        caught_up = self._audio_end is not None and self._audio_end >= self._stop_at
        return caught_up or now() > self._stop_at + _AUDIO_GRACE

    def _check_started(self) -> None:
        if not self.live or now() - self._started_at < self.start_timeout:
            return
        if self.camera is not None and self._first_frame_at is None:
            self._failed_device = "camera"
            raise RecorderError(
                f"no picture from camera {self.camera.name} within {self.start_timeout:.0f} s"
            )
        if self.microphone is not None and not self.video and self._first_audio_at is None:
            self._failed_device = "microphone"
            raise RecorderError(
                f"no sound from microphone {self.microphone.name} within {self.start_timeout:.0f} s"
            )

    def _check_sources(self) -> None:
        """A device that fails while recording ends the recording where its data ended: what was
        recorded until then is kept, as a take the visitor can review."""
        if self._failed_device is not None or self._stop_at is not None:
            return
        failed: tuple[str, float | None] | None = None
        if self.microphone is not None and self.microphone.failure is not None:
            failed = ("microphone", self._audio_end)
        elif self.camera is not None and self.camera.failure is not None:
            failed = ("camera", self._last_frame_at)
        if failed is None:
            return
        device, data_end = failed
        log.warning("recording %s: the %s failed; keeping what was recorded", self.path.name, device)
        self._failed_device = device
        with self._cond:
            if self._stop_at is None:
                self._stop_at, self._stopped_by = (data_end or now()), "device_failed"
                self._cond.notify_all()

    def _sync_to_disk(self) -> None:
        if self._file is not None and now() - self._last_sync >= _SYNC_INTERVAL:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._last_sync = now()

    def _finish(self) -> RecordingResult:
        writer, file = self._writer, self._file
        assert writer is not None and file is not None
        if self.video and writer.frames == 0:
            raise RecorderError("no picture was recorded")
        if not self.video and writer.samples == 0:
            raise RecorderError("no sound was recorded")
        duration = writer.close()
        sealed = self._sealer.finish() if self._sealer is not None else None
        file.flush()
        os.fsync(file.fileno())
        file.close()
        os.replace(self.temp_path, self.path)
        fsync_directory(self.path.parent)
        if sealed is not None:
            sha256, size = sealed.plain_sha256, sealed.plain_size  # what the server will store
        else:
            assert self._hasher is not None
            sha256, size = self._hasher.sha256.hexdigest(), self._hasher.size
        first_latency = None
        if self.camera is not None and self._first_frame_at is not None:
            first_latency = self._first_frame_at - self._started_at
        return RecordingResult(
            path=self.path,
            sha256=sha256,
            duration=duration,
            size=size,
            video_frames=writer.frames,
            dropped_frames=self._dropped,
            first_frame_latency=first_latency,
            audio_start_gap=writer.audio_start_gap if self.video else None,
            stopped_by=self._stopped_by,
            sealed=sealed,
            failed_device=self._failed_device,
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _start_sources(self) -> None:
        sources: list[Camera | Microphone] = [s for s in (self.camera, self.microphone) if s is not None]
        for source in sources:
            if not source.running:
                source.start()
                self._owned.append(source)
        if self.camera is not None:
            self.camera.add_listener(self._on_frame)
        if self.microphone is not None:
            self.microphone.add_listener(self._on_audio)

    def _release_sources(self) -> None:
        if self.camera is not None:
            self.camera.remove_listener(self._on_frame)
        if self.microphone is not None:
            self.microphone.remove_listener(self._on_audio)
        for source in self._owned:
            try:
                source.stop()
            except Exception:
                log.exception("stopping %s after recording failed", source.name)
        self._owned = []

    def _fail_start(self) -> None:
        self._release_sources()
        self._discard()
        with self._cond:
            self._state = RecorderState.FAILED
            self._done.set()

    def _discard(self) -> None:
        """Remove the unfinished file; never raises (a full disk fails every write here)."""
        if self._writer is not None:
            self._writer.abort()
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                log.debug("closing %s failed", self.temp_path, exc_info=True)
        self.temp_path.unlink(missing_ok=True)

    def _join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
