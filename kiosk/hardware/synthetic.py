"""Generated stand-ins for a camera picture and a microphone signal.

A machine without camera or sound card (a developer's laptop, CI) still runs the real capture
and recording code: the camera reads a generated video file and the microphone hears a
generated tone. The picture is "talking-head-like" on purpose: a person-sized shape that
sways and talks in front of a still bookshelf, with mild sensor noise. That is what a kiosk
camera sees, and what the encoder budgets are measured on; pure noise would be
incompressible and prove nothing.
"""

from __future__ import annotations

import math
import wave
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

_SKIN = (120, 160, 215)  # BGR
_HAIR = (40, 45, 60)
_SHIRT = (150, 90, 40)


class TalkingHeadSource:
    """Deterministic frames of a person talking in front of a bookshelf.

    ``frame(i)`` always returns the same picture for the same ``i``, so a test or benchmark can
    compare an encoded recording with its exact source.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: int = 25,
        noise_sigma: float = 2.0,
        seed: int = 0,
    ) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.noise_sigma = noise_sigma
        self.seed = seed
        self._background = self._draw_background()
        self._noise = np.empty((height, width, 3), np.int16)

    def _draw_background(self) -> np.ndarray:
        w, h = self.width, self.height
        rows = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
        wall = np.empty((h, w, 3), np.float32)
        # A warm wall, lighter at the top as under ceiling lights.
        for channel, (top, bottom) in enumerate(((190, 150), (200, 160), (210, 175))):
            wall[:, :, channel] = top + (bottom - top) * rows
        image = wall.astype(np.uint8)
        rng = np.random.default_rng(self.seed)
        shelf_height = h // 4
        for shelf in range(3):
            y0 = shelf * shelf_height + h // 12
            cv2.rectangle(image, (0, y0 + shelf_height - 12), (w, y0 + shelf_height), (60, 80, 110), -1)
            x = 0
            while x < w:
                spine = int(rng.integers(w // 90, w // 40))
                top = y0 + int(rng.integers(0, shelf_height // 4))
                colour = tuple(int(c) for c in rng.integers(30, 220, 3))
                cv2.rectangle(image, (x, top), (x + spine - 2, y0 + shelf_height - 12), colour, -1)
                x += spine
        cv2.rectangle(image, (0, int(h * 0.8)), (w, h), (70, 90, 100), -1)  # a desk
        return image

    def clean_frame(self, index: int) -> np.ndarray:
        """The picture without sensor noise."""
        w, h = self.width, self.height
        t = index / self.fps
        image = self._background.copy()
        sway = int(w * 0.03 * math.sin(2 * math.pi * 0.25 * t))
        bob = int(h * 0.01 * math.sin(2 * math.pi * 0.5 * t + 1.0))
        cx, cy = w // 2 + sway, int(h * 0.42) + bob
        head = (int(h * 0.13), int(h * 0.17))
        # Shoulders and body first, so the head is drawn over them.
        cv2.ellipse(image, (cx, cy + int(h * 0.55)), (int(w * 0.2), int(h * 0.4)), 0, 0, 360, _SHIRT, -1)
        cv2.rectangle(image, (cx - head[0] // 3, cy), (cx + head[0] // 3, cy + int(h * 0.24)), _SKIN, -1)
        cv2.ellipse(
            image,
            (cx, cy - head[1] // 3),
            (head[0] + 6, int(head[1] * 0.8)),
            0,
            180,
            360,
            _HAIR,
            -1,
        )
        cv2.ellipse(image, (cx, cy), head, 0, 0, 360, _SKIN, -1, cv2.LINE_AA)
        blink = index % (4 * self.fps) < 3
        for side in (-1, 1):
            eye = (cx + side * head[0] // 2, cy - head[1] // 5)
            cv2.ellipse(
                image,
                eye,
                (head[0] // 7, 1 if blink else head[1] // 12),
                0,
                0,
                360,
                (50, 40, 40),
                -1,
            )
        mouth_open = abs(math.sin(2 * math.pi * 3.0 * t)) * head[1] * 0.12
        cv2.ellipse(
            image,
            (cx, cy + head[1] // 2),
            (head[0] // 3, 2 + int(mouth_open)),
            0,
            0,
            360,
            (60, 50, 120),
            -1,
        )
        # A hand that gestures now and then.
        hand_y = int(h * 0.85 - h * 0.15 * max(0.0, math.sin(2 * math.pi * 0.2 * t)))
        cv2.circle(image, (cx + int(w * 0.16), hand_y), int(h * 0.05), _SKIN, -1, cv2.LINE_AA)
        return image

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a BGR ``uint8`` array of shape (height, width, 3)."""
        image = self.clean_frame(index)
        if self.noise_sigma <= 0:
            return image
        cv2.setRNGSeed(self.seed * 1_000_003 + index)
        sigma = np.full(3, self.noise_sigma)  # one per channel: a scalar would only fill blue
        cv2.randn(self._noise, np.zeros(3), sigma)
        return cv2.add(image, self._noise, dtype=cv2.CV_8U)


def write_test_video(
    path: str | Path,
    seconds: float = 4.0,
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
    noise_sigma: float = 2.0,
    crf: int = 16,
) -> Path:
    """Write a talking-head H.264 MP4 file that a file camera can play."""
    path = Path(path)
    source = TalkingHeadSource(width, height, fps, noise_sigma)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index in range(round(seconds * fps)):
            yuv: np.ndarray = cv2.cvtColor(source.frame(index), cv2.COLOR_BGR2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def tone(frequency: float, seconds: float, samplerate: int = 48000, amplitude: float = 0.5) -> np.ndarray:
    """A sine tone as float32 samples in -1..1."""
    t = np.arange(round(seconds * samplerate), dtype=np.float64) / samplerate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write_tone_wav(
    path: str | Path,
    frequency: float,
    seconds: float,
    samplerate: int = 48000,
    amplitude: float = 0.5,
) -> Path:
    """Write a mono 16-bit WAV file with a sine tone (for ``paplay``)."""
    path = Path(path)
    samples = (tone(frequency, seconds, samplerate, amplitude) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(samplerate)
        out.writeframes(samples.tobytes())
    return path
