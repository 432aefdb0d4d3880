"""Microphones: a small base class and the sounddevice (PortAudio) implementation.

Audio arrives in blocks from the sound driver's callback. Each block is stamped with the
capture time of its first sample on the same clock as camera frames
(:func:`kiosk.hardware.clock.now`), which is what keeps recordings in sync.

sounddevice is imported only in :meth:`SoundDeviceMicrophone.start` and
:func:`list_input_devices`: importing it starts PortAudio, which probes every sound device.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple, Self

import numpy as np

from kiosk.hardware.clock import now

log = logging.getLogger(__name__)


class MicrophoneError(RuntimeError):
    """A microphone could not be opened, or stopped giving sound."""


class AudioBlock(NamedTuple):
    """Consecutive samples and the capture time of the first one."""

    samples: np.ndarray  # shape (frames, channels); float32 in -1..1 or int16
    timestamp: float
    samplerate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.samplerate


AudioListener = Callable[[AudioBlock], None]

# The level meter shows this many dB below full scale as empty.
_METER_RANGE_DB = 60.0

# A running microphone that delivers nothing for this long has failed (unplugged, its sound
# server gone). Drivers deliver every 20-100 ms; a busy Pi may pause for some hundreds. As long
# as a camera may give no picture before it counts as broken.
STALL_SECONDS = 2.0


def to_float32(samples: np.ndarray) -> np.ndarray:
    """Samples as float32 in -1..1, whatever sample format they came in."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    return samples.astype(np.float32, copy=False)


def dbfs(samples: np.ndarray) -> float:
    """RMS level in dB below full scale; -inf for digital silence."""
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(to_float32(samples), dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


class _SampleClock:
    """Turns callback arrival times into steady capture timestamps.

    Callbacks arrive with scheduling jitter, and some drivers (PulseAudio) hand over several
    blocks at once, but the samples themselves are evenly spaced. So a block's timestamp is an
    anchor plus the number of samples seen so far. A block that arrives earlier than the anchor
    predicts moves the anchor back at once (sound cannot arrive before it is captured); and
    once a second the anchor moves forward by the *smallest* lateness seen in that second
    (jitter and bursts only ever make a callback later), which follows the slow drift between
    the sound card's crystal and the system clock over hours of running.
    """

    WINDOW = 1.0  # seconds between anchor corrections
    LOST = 0.2  # a block this much later than expected means samples were lost

    def __init__(self, samplerate: int) -> None:
        self.samplerate = samplerate
        self._anchor: float | None = None
        self._count = 0
        self._window_start = 0.0
        self._window_min = math.inf

    def stamp(self, frames: int, arrival: float, discontinuity: bool) -> float:
        # When the first sample of this block was captured, judged by this callback alone:
        # a driver calls back as soon as a block is complete, unless it is late.
        observed = arrival - frames / self.samplerate
        if self._anchor is None or discontinuity:
            self._anchor, self._count = observed, 0
            self._window_start, self._window_min = arrival, math.inf
        expected = self._anchor + self._count / self.samplerate
        lateness = observed - expected
        if lateness < 0:  # sound cannot arrive before it was captured: the anchor was late
            self._anchor += lateness
            expected, lateness = observed, 0.0
        if lateness > self.LOST:
            self._anchor, self._count, expected = observed, 0, observed
            self._window_start, self._window_min = arrival, math.inf
        else:
            self._window_min = min(self._window_min, lateness)
            if arrival - self._window_start >= self.WINDOW:
                self._anchor += self._window_min
                self._window_start, self._window_min = arrival, math.inf
        self._count += frames
        return expected


class Microphone(ABC):
    """Base class: timestamps, a level meter, a short queue of blocks and listeners.

    Subclasses implement :meth:`_open` and :meth:`_release` and call :meth:`_deliver` from
    their driver callback.
    """

    def __init__(
        self,
        name: str,
        samplerate: int = 48000,
        channels: int = 1,
        dtype: str = "float32",
        queue_seconds: float = 5.0,
    ) -> None:
        if dtype not in ("float32", "int16"):
            raise ValueError(f"dtype must be float32 or int16, not {dtype}")
        self.name = name
        self.samplerate = samplerate
        self.channels = channels
        self.dtype = dtype
        self.blocksize = samplerate // 50  # 20 ms: a smooth meter, little delay
        self._lock = threading.Lock()  # guards start/stop/close
        self._cond = threading.Condition()  # guards the queue, level and listeners
        self._queue: deque[AudioBlock] = deque(
            maxlen=max(1, math.ceil(queue_seconds * samplerate / self.blocksize))
        )
        self._listeners: list[AudioListener] = []
        self._clock = _SampleClock(samplerate)
        self._level_dbfs = -math.inf
        self._running = False
        self._closed = False
        self._error: str | None = None
        self._last_block_at = 0.0
        self.overflows = 0

    # -- what subclasses provide -------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None:
        """Open the device and start the callback; raise :class:`MicrophoneError` if not."""

    @abstractmethod
    def _release(self) -> None:
        """Stop the callback and give the device back."""

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Open the microphone and start listening. Does nothing when already running."""
        with self._lock:
            if self._closed:
                raise MicrophoneError(f"microphone {self.name} is closed")
            if self._running:
                return
            self._clock = _SampleClock(self.samplerate)
            with self._cond:
                self._queue.clear()
                self._level_dbfs = -math.inf
                self._error = None
                self._last_block_at = now()
            self._open()
            self._running = True

    def stop(self) -> None:
        """Stop listening and release the device. Safe to call when not running."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            try:
                self._release()
            finally:
                with self._cond:
                    self._queue.clear()
                    self._level_dbfs = -math.inf
                    self._cond.notify_all()

    def close(self) -> None:
        """Stop and forget the microphone for good. Safe to call twice."""
        self.stop()
        self._closed = True

    @property
    def failure(self) -> str | None:
        """Why a started microphone stopped giving sound, or None while it works."""
        if self._error is not None:
            return self._error
        if self._running and now() - self._last_block_at > STALL_SECONDS:
            return f"microphone {self.name} stopped giving sound"
        return None

    def probe(self, timeout: float = 1.0) -> None:
        """Open the microphone, wait for its first sound and close it again; raise
        :class:`MicrophoneError` if it cannot be opened or stays silent (not even noise)."""
        self.start()
        try:
            if self.read(timeout) is None:
                raise MicrophoneError(f"microphone {self.name} opened but gives no sound")
        finally:
            self.stop()

    def _fail(self, message: str) -> None:
        """The driver ended the stream without being asked to (called from its thread)."""
        with self._cond:
            if self._running and self._error is None:
                self._error = message
            self._cond.notify_all()

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

    # -- sound -----------------------------------------------------------------------------------

    @property
    def level_dbfs(self) -> float:
        """Level of the latest block in dB below full scale (-inf when silent or stopped)."""
        return self._level_dbfs

    @property
    def level(self) -> float:
        """Level of the latest block for a meter: 0 at -60 dBFS or below, 1 at full scale."""
        return min(1.0, max(0.0, 1.0 + self._level_dbfs / _METER_RANGE_DB))

    def read(self, timeout: float = 1.0) -> AudioBlock | None:
        """The oldest unread block (the last few seconds are kept), or None after ``timeout``."""
        deadline = now() + timeout
        with self._cond:
            while not self._queue:
                remaining = deadline - now()
                if remaining <= 0 or not self._running:
                    return None
                self._cond.wait(remaining)
            return self._queue.popleft()

    def record(self, seconds: float) -> np.ndarray:
        """Listen for ``seconds`` from now and return the samples, shape (frames, channels)."""
        with self._cond:
            self._queue.clear()
        wanted = round(seconds * self.samplerate)
        blocks: list[np.ndarray] = []
        got = 0
        deadline = now() + seconds + 2.0
        while got < wanted and now() < deadline:
            block = self.read(timeout=max(0.0, deadline - now()))
            if block is None:
                break
            blocks.append(block.samples)
            got += len(block.samples)
        if got < wanted:
            raise MicrophoneError(f"microphone {self.name} gave {got} of {wanted} samples")
        return np.concatenate(blocks)[:wanted]

    def add_listener(self, listener: AudioListener) -> None:
        """Call ``listener(block)`` on the audio thread for every block; keep it quick."""
        with self._cond:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: AudioListener) -> None:
        with self._cond:
            self._listeners = [x for x in self._listeners if x != listener]  # bound methods: ==

    def _deliver(self, samples: np.ndarray, arrival: float, discontinuity: bool = False) -> None:
        """Hand over a block from the driver that arrived at ``arrival``.

        ``discontinuity`` says samples were lost before this block.
        """
        if discontinuity:
            self.overflows += 1
        timestamp = self._clock.stamp(len(samples), arrival, discontinuity)
        block = AudioBlock(samples, timestamp, self.samplerate)
        level = dbfs(samples)
        with self._cond:
            self._last_block_at = arrival
            self._queue.append(block)
            self._level_dbfs = level
            listeners = self._listeners
            self._cond.notify_all()
        for listener in listeners:
            try:
                listener(block)
            except Exception:
                log.exception("microphone %s: block listener failed", self.name)


def _sounddevice() -> Any:  # the sounddevice module, which has no type hints
    try:
        import sounddevice
    except OSError as exc:  # raised when the PortAudio library itself is missing
        raise MicrophoneError(f"PortAudio is missing (apt install libportaudio2): {exc}") from exc
    return sounddevice


# PortAudio is one library state per process: listing the devices again frees every open stream,
# so it waits for streams being opened or closed and is skipped while any is open.
_PORTAUDIO = threading.Lock()
_open_streams = 0


def refresh_sound_devices() -> bool:
    """Make PortAudio list the sound devices again, so that one plugged in since is found.

    Returns False (and does nothing) while a stream is open in this process."""
    with _PORTAUDIO:
        sd = sys.modules.get("sounddevice")
        if sd is None:
            return True  # not started yet: it will list the devices when it starts
        if _open_streams:
            return False
        sd._terminate()
        sd._initialize()
        return True


def _device_id(device: int | str | None) -> int | str | None:
    """A configured device: None/"" → the system default, digits → an index, else a name."""
    if device is None or (isinstance(device, str) and not device.strip()):
        return None
    if isinstance(device, str) and device.strip().isdigit():
        return int(device)
    return device


class SoundDeviceMicrophone(Microphone):
    """A microphone through PortAudio: ALSA on the Pi (and PulseAudio via ALSA's pulse plugin)."""

    def __init__(
        self,
        device: int | str | None = "default",
        samplerate: int = 48000,
        channels: int = 1,
        dtype: str = "float32",
    ) -> None:
        self.device = _device_id(device)
        name = "default" if self.device is None else str(self.device)
        super().__init__(name, samplerate, channels, dtype)
        self._stream: Any = None

    def _open(self) -> None:
        global _open_streams
        with _PORTAUDIO:
            self._stream = self._open_stream()
            _open_streams += 1

    def _open_stream(self) -> Any:
        sd = _sounddevice()
        try:
            stream = sd.InputStream(
                device=self.device,
                samplerate=self.samplerate,
                channels=self.channels,
                dtype=self.dtype,
                blocksize=self.blocksize,
                # Room for 100 ms: with "low" (two blocks) ALSA's pulse plugin starts only
                # after seconds, and a busy Pi would overflow. Input is not delayed by it.
                latency=0.1,
                callback=self._callback,
                finished_callback=self._finished,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise MicrophoneError(f"cannot open microphone {self.name!r}: {exc}") from exc
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close()
            raise MicrophoneError(f"microphone {self.name!r} does not start: {exc}") from exc
        return stream

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        arrival = now()
        # indata is PortAudio's buffer, reused after we return: keep a copy.
        self._deliver(indata.copy(), arrival, bool(status.input_overflow))

    def _finished(self) -> None:
        # PortAudio ends the stream on its own when the device goes away (a USB microphone
        # pulled out, the PulseAudio source removed); after stop() this is just the echo.
        if self._stream is not None:
            self._fail(f"microphone {self.name!r} was disconnected")

    def _release(self) -> None:
        global _open_streams
        with _PORTAUDIO:
            stream, self._stream = self._stream, None
            if stream is None:
                return
            try:
                stream.stop()
            finally:
                stream.close()
                _open_streams -= 1


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool


def list_input_devices() -> list[InputDevice]:
    """Every sound device that can record, as PortAudio sees it."""
    sd = _sounddevice()
    try:
        default_input = sd.default.device[0]
        devices = sd.query_devices()
    except sd.PortAudioError as exc:
        raise MicrophoneError(f"cannot list sound devices: {exc}") from exc
    return [
        InputDevice(
            index=index,
            name=str(info["name"]),
            channels=int(info["max_input_channels"]),
            default_samplerate=float(info["default_samplerate"]),
            is_default=index == default_input,
        )
        for index, info in enumerate(devices)
        if info["max_input_channels"] > 0
    ]
