"""Generate Vertelpaal's default media set: question videos, kiosk videos, spoken labels,
UI sounds, sample recordings, credits and ``manifest.json``.

Run from the repository root::

    .venv/bin/python media/make_media.py                       # regenerate everything
    .venv/bin/python media/make_media.py --openmoji PKG_DIR    # also re-copy the SVGs first

Needs (Debian packages): ``espeak-ng`` for speech and ``librsvg2-bin`` (``rsvg-convert``)
to rasterise the committed OpenMoji SVGs; Python: PyAV, NumPy, Pillow.

The output is deterministic: the same tools give byte-identical files on every run
(encoders run single-threaded, noise comes from fixed seeds, containers are written bitexact).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

MEDIA = Path(__file__).resolve().parent

LANGS = ("nl", "en")
LANG_NAMES = {"nl": "Nederlands", "en": "English"}
ESPEAK_VOICE = {"nl": "nl", "en": "en"}
ESPEAK_SPEED = 145  # words per minute; a little slower than espeak's default 175

FPS = 25
VIDEO_SIZE = (640, 360)
CAMERA_SIZE = (1280, 720)
AUDIO_RATE = 44100  # AAC output sample rate
AUDIO_BITRATE = 64_000
SPEECH_LEAD = 0.4  # silence before the first sentence, seconds
SPEECH_GAP = 0.35  # silence between sentences
SPEECH_TAIL = 0.8  # silence after the last sentence

BACKGROUND = (14, 59, 92)  # calm deep blue; white cards on it give high contrast
CARD = (255, 255, 255)

# name -> (OpenMoji hexcode, what it shows). Files: media/pictograms/NAME.svg
PICTOGRAMS: dict[str, tuple[str, str]] = {
    "face-very-unhappy": ("1F629", "weary face"),
    "face-unhappy": ("2639", "frowning face"),
    "face-neutral": ("1F610", "neutral face"),
    "face-happy": ("1F642", "slightly smiling face"),
    "face-very-happy": ("1F600", "grinning face"),
    "books": ("1F4DA", "books"),
    "open-book": ("1F4D6", "open book"),
    "newspaper": ("1F4F0", "newspaper"),
    "computer": ("1F4BB", "laptop"),
    "coffee": ("2615", "hot beverage"),
    "people": ("1F9D1-200D-1F91D-200D-1F9D1", "people holding hands"),
    "child": ("1F9D2", "child"),
    "teacher": ("1F9D1-200D-1F3EB", "teacher"),
    "staff": ("1F9D1-200D-1F4BC", "office worker"),
    "library": ("1F3DB", "classical building"),
    "touch": ("E100", "tap (OpenMoji extra, private use area)"),
    "check": ("2705", "check mark button"),
    "cross": ("274C", "cross mark"),
    "microphone": ("1F3A4", "microphone"),
    "video-camera": ("1F3A5", "movie camera"),
    "speaker": ("1F50A", "speaker high volume"),
    "replay": ("1F501", "repeat button"),
    "back": ("2B05", "left arrow"),
    "next": ("27A1", "right arrow"),
    "record": ("23FA", "record button"),
    "stop": ("23F9", "stop button"),
    "play": ("25B6", "play button"),
    "send": ("1F4E4", "outbox tray"),
    "trash": ("1F5D1", "wastebasket"),
    "hourglass": ("23F3", "hourglass not done"),
    "heart": ("2764", "red heart"),
    "thumbs-up": ("1F44D", "thumbs up"),
    "waving-hand": ("1F44B", "waving hand"),
    "eye": ("1F441", "eye"),
    "calendar": ("1F4C5", "calendar"),
    "lock": ("1F512", "locked"),
    "question": ("2753", "red question mark"),
    "speech": ("1F4AC", "speech balloon"),
    "speaking-head": ("1F5E3", "speaking head"),
    "lightbulb": ("1F4A1", "light bulb"),
    "flag-nl": ("1F1F3-1F1F1", "flag: Netherlands"),
    "flag-gb": ("1F1EC-1F1E7", "flag: United Kingdom"),
    "library-card": ("1FAAA", "identification card (the library card)"),
}


# --------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------

Row = tuple[int, tuple[str, ...]]  # (pictogram size in px, pictogram names)


@dataclass(frozen=True)
class Sentence:
    """One spoken sentence per language and the picture shown while it is spoken.

    ``scene`` is None to keep showing the previous sentence's picture.
    ``stagger`` makes the second row's pictograms appear one by one during the sentence.
    """

    text: dict[str, str]
    scene: tuple[Row, ...] | None
    stagger: bool = False


@dataclass(frozen=True)
class Option:
    value: str
    label: dict[str, str]
    pictogram: str


@dataclass(frozen=True)
class Question:
    key: str
    kind: str
    name: dict[str, str]
    sentences: tuple[Sentence, ...]
    options: tuple[Option, ...] = ()


FACES5 = ("face-very-unhappy", "face-unhappy", "face-neutral", "face-happy", "face-very-happy")
FACES3 = ("face-unhappy", "face-neutral", "face-happy")


def _scale(labels: Sequence[tuple[str, str]], faces: Sequence[str]) -> tuple[Option, ...]:
    return tuple(
        Option(str(i + 1), {"nl": nl, "en": en}, f)
        for i, ((nl, en), f) in enumerate(zip(labels, faces, strict=True))
    )


QUESTIONS: tuple[Question, ...] = (
    Question(
        key="satisfaction",
        kind="scale",
        name={"nl": "Tevredenheid bibliotheek", "en": "Satisfaction with the library"},
        sentences=(
            Sentence(
                {
                    "nl": "Hoe tevreden bent u over de bibliotheek?",
                    "en": "How happy are you with the library?",
                },
                ((150, ("library",)), (90, FACES5)),
                stagger=True,
            ),
        ),
        options=_scale(
            [
                ("Heel ontevreden", "Very unhappy"),
                ("Ontevreden", "Unhappy"),
                ("Neutraal", "Neutral"),
                ("Tevreden", "Happy"),
                ("Heel tevreden", "Very happy"),
            ],
            FACES5,
        ),
    ),
    Question(
        key="staff",
        kind="scale",
        name={"nl": "Vriendelijkheid medewerkers", "en": "Friendliness of the staff"},
        sentences=(
            Sentence(
                {
                    "nl": "Hoe vriendelijk en behulpzaam vond u de medewerkers?",
                    "en": "How friendly and helpful were the staff?",
                },
                ((150, ("staff",)), (96, FACES3)),
                stagger=True,
            ),
        ),
        options=_scale(
            [
                ("Niet vriendelijk", "Not friendly"),
                ("Gaat wel", "Okay"),
                ("Heel vriendelijk", "Very friendly"),
            ],
            FACES3,
        ),
    ),
    Question(
        key="visit_reason",
        kind="choice",
        name={"nl": "Reden van bezoek", "en": "Reason for the visit"},
        sentences=(
            Sentence(
                {
                    "nl": "Waarvoor komt u vandaag naar de bibliotheek?",
                    "en": "What brings you to the library today?",
                },
                (
                    (150, ("library",)),
                    (90, ("books", "computer", "people", "open-book", "coffee")),
                ),
                stagger=True,
            ),
        ),
        options=(
            Option("borrow", {"nl": "Boeken lenen", "en": "Borrow books"}, "books"),
            Option(
                "computer",
                {"nl": "Computer en internet", "en": "Computer and internet"},
                "computer",
            ),
            Option("activity", {"nl": "Een activiteit", "en": "An activity"}, "people"),
            Option("study", {"nl": "Lezen of studeren", "en": "Read or study"}, "open-book"),
            Option(
                "meet",
                {"nl": "Koffie en ontmoeten", "en": "Coffee and meeting people"},
                "coffee",
            ),
        ),
    ),
    Question(
        key="activity",
        kind="scale",
        name={"nl": "Waardering activiteit", "en": "Rating of the activity"},
        sentences=(
            Sentence(
                {
                    "nl": "Wat vond u van de activiteit?",
                    "en": "What did you think of the activity?",
                },
                ((150, ("people",)), (96, FACES3)),
                stagger=True,
            ),
        ),
        options=_scale(
            [("Niet leuk", "Not good"), ("Gaat wel", "Okay"), ("Leuk", "Good")],
            FACES3,
        ),
    ),
    Question(
        key="improve",
        kind="open",
        name={"nl": "Wat kan beter", "en": "What could be better"},
        sentences=(
            Sentence(
                {"nl": "Wat kunnen we beter doen?", "en": "What can we do better?"},
                ((160, ("library", "lightbulb")),),
            ),
            Sentence(
                {"nl": "Vertel het ons!", "en": "Tell us!"},
                ((150, ("video-camera", "microphone")),),
            ),
        ),
    ),
    Question(
        key="story",
        kind="voice",
        name={"nl": "Wat de bibliotheek betekent", "en": "What the library means"},
        sentences=(
            Sentence(
                {
                    "nl": "Vertel ons: wat betekent de bibliotheek voor u?",
                    "en": "Tell us: what does the library mean to you?",
                },
                ((150, ("library", "heart")), (96, ("microphone",))),
                stagger=True,
            ),
        ),
    ),
)


@dataclass(frozen=True)
class KioskVideo:
    key: str
    sentences: tuple[Sentence, ...]
    pulse: bool = False  # the first row pulses gently (attract loop)
    min_seconds: float = 0.0


# The built-in "Are you a member of the library?" question and the "I came for..." chooser: the
# kiosk shows them itself, so their words are spoken here, not uploaded per questionnaire.
MEMBER_PROMPT = {"nl": "Bent u lid van de bibliotheek?", "en": "Are you a member of the library?"}
MEMBER_OPTIONS = (
    Option("yes", {"nl": "Ja, ik ben lid", "en": "Yes, I am a member"}, "check"),
    Option("no", {"nl": "Nee, ik ben geen lid", "en": "No, I am not a member"}, "cross"),
    Option("unknown", {"nl": "Dat weet ik niet", "en": "I don't know"}, "question"),
)
CHOOSER_PROMPT = {"nl": "Waarvoor kwam u vandaag?", "en": "What did you come for today?"}
GENERAL_VISIT = Option("general", {"nl": "Gewoon een bezoek", "en": "Just a visit"}, "library")
# Spoken names of the demo's activities (flask --app admin demo seed ties them to questionnaires).
DEMO_ACTIVITIES = (
    Option("klik-tik", {"nl": "Klik en Tik", "en": "Klik en Tik"}, "computer"),
    Option("taalhuis", {"nl": "Taalhuis", "en": "Taalhuis"}, "speech"),
)


KIOSK_VIDEOS: tuple[KioskVideo, ...] = (
    KioskVideo(
        key="attract",
        sentences=(
            Sentence({"nl": "Vertel het ons!", "en": "Tell us!"}, ((220, ("touch",)),)),
            Sentence({"nl": "Raak het scherm aan.", "en": "Touch the screen."}, None),
        ),
        pulse=True,
        min_seconds=6.4,
    ),
    KioskVideo(
        key="consent",
        sentences=(
            # One question with one meaning: may we record you at all. Whether the answer is
            # a video or only a voice is chosen later, at each question.
            Sentence(
                {
                    "nl": "Mogen wij u filmen of uw stem opnemen?",
                    "en": "May we film you or record your voice?",
                },
                ((150, ("video-camera", "microphone")),),
            ),
            Sentence(
                {
                    "nl": "Alleen de medewerkers van deze bibliotheek zien en horen het.",
                    "en": "Only the staff of this library will see and hear it.",
                },
                ((150, ("staff", "library")), (90, ("eye", "speaker"))),
            ),
            Sentence(
                {
                    "nl": "Wij bewaren het dertig dagen. Daarna wissen wij het.",
                    "en": "We keep it for thirty days. Then we delete it.",
                },
                ((150, ("calendar", "trash")),),
            ),
            Sentence(
                {"nl": "Vinkje is ja, dat mag.", "en": "Tick is yes, you may."},
                ((170, ("check",)),),
            ),
            Sentence(
                {"nl": "Kruis is nee. Dan tikt u alleen.", "en": "Cross is no. Then you only tap."},
                ((170, ("cross", "touch")),),
            ),
        ),
    ),
    KioskVideo(
        key="thanks",
        sentences=(
            Sentence(
                {"nl": "Dank u wel!", "en": "Thank you!"},
                ((170, ("heart", "face-very-happy")),),
            ),
            Sentence(
                {"nl": "Fijn dat u meedeed.", "en": "Thanks for taking part."},
                None,
            ),
        ),
    ),
    KioskVideo(
        key="still_there",
        sentences=(
            Sentence({"nl": "Bent u er nog?", "en": "Are you still there?"}, ((190, ("hourglass",)),)),
            Sentence(
                {"nl": "Raak het scherm aan.", "en": "Touch the screen."},
                ((190, ("touch",)),),
            ),
        ),
    ),
)

SAMPLE_ANSWER_VIDEO_TEXT = "Ik vind de bibliotheek fijn, maar ik wil meer computers."
SAMPLE_ANSWER_VOICE_TEXT = "De mensen zijn aardig, en de koffie is lekker."


# --------------------------------------------------------------------------------------
# Speech
# --------------------------------------------------------------------------------------


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a mono 16-bit WAV file into float32 samples in [-1, 1]."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0, rate


def speak(text: str, lang: str, workdir: Path) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng; return trimmed samples and their sample rate."""
    workdir.mkdir(parents=True, exist_ok=True)
    wav_path = workdir / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", ESPEAK_VOICE[lang], "-s", str(ESPEAK_SPEED), "-w", str(wav_path), text],
        check=True,
    )
    samples, rate = read_wav(wav_path)
    return trim_silence(samples, rate), rate


def trim_silence(samples: np.ndarray, rate: int, threshold: float = 0.01) -> np.ndarray:
    """Cut leading and trailing silence, keeping a 20 ms margin."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return samples
    margin = int(0.02 * rate)
    start = max(0, int(loud[0]) - margin)
    end = min(samples.size, int(loud[-1]) + margin)
    return samples[start:end]


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Resample by linear interpolation (fine for speech at these rates; deterministic)."""
    if rate == new_rate:
        return samples.astype(np.float32)
    n = round(samples.size * new_rate / rate)
    x = np.arange(n, dtype=np.float64) * (rate / new_rate)
    out: np.ndarray = np.interp(x, np.arange(samples.size), samples).astype(np.float32)
    return out


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def speak_sentences(
    texts: Sequence[str], lang: str, workdir: Path, min_seconds: float = 0.0
) -> tuple[np.ndarray, list[Cue], float]:
    """Speak sentences one after another at ``AUDIO_RATE``.

    Returns the audio (padded to a whole number of video frames), one cue per sentence
    (exactly where its speech is) and the total duration in seconds.
    """
    parts: list[np.ndarray] = [np.zeros(int(SPEECH_LEAD * AUDIO_RATE), np.float32)]
    cues: list[Cue] = []
    pos = parts[0].size
    for i, text in enumerate(texts):
        if i:
            gap = np.zeros(int(SPEECH_GAP * AUDIO_RATE), np.float32)
            parts.append(gap)
            pos += gap.size
        speech, rate = speak(text, lang, workdir)
        speech = resample(speech, rate, AUDIO_RATE)
        cues.append(Cue(pos / AUDIO_RATE, (pos + speech.size) / AUDIO_RATE, text))
        parts.append(speech)
        pos += speech.size
    total = max(pos / AUDIO_RATE + SPEECH_TAIL, min_seconds)
    frames = math.ceil(total * FPS)
    n_samples = frames * AUDIO_RATE // FPS
    audio = np.concatenate(parts)
    audio = np.pad(audio, (0, max(0, n_samples - audio.size)))[:n_samples]
    return audio, cues, frames / FPS


def vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def wrap(text: str, width: int = 42) -> str:
    """Break a subtitle into lines of at most ``width`` characters (two lines at most)."""
    if len(text) <= width:
        return text
    words = text.split()
    best = text
    best_score = math.inf
    for i in range(1, len(words)):
        a, b = " ".join(words[:i]), " ".join(words[i:])
        # Balanced lines, and rather a break after punctuation than inside a phrase.
        score = abs(len(a) - len(b)) - (40 if a[-1] in ".?!:," and len(b) <= width else 0)
        if score < best_score:
            best, best_score = f"{a}\n{b}", score
    return best


def write_vtt(path: Path, cues: Sequence[Cue]) -> None:
    lines = ["WEBVTT", ""]
    for i, cue in enumerate(cues, 1):
        lines += [str(i), f"{vtt_time(cue.start)} --> {vtt_time(cue.end)}", wrap(cue.text), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


# --------------------------------------------------------------------------------------
# Encoding with PyAV
# --------------------------------------------------------------------------------------

CONTAINER_OPTIONS = {"movflags": "+faststart", "fflags": "+bitexact"}


def _add_video_stream(container: Any, size: tuple[int, int], crf: int, preset: str, tune: str | None) -> Any:
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    options = {
        "crf": str(crf),
        "preset": preset,
        "profile": "high",
        "threads": "1",
        "x264-params": f"keyint={2 * FPS}:min-keyint={FPS}",
    }
    if tune:
        options["tune"] = tune
    stream.options = options
    stream.codec_context.thread_count = 1
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    return stream


def _add_audio_stream(container: Any) -> Any:
    stream = container.add_stream("aac", rate=AUDIO_RATE)
    stream.layout = "mono"
    stream.bit_rate = AUDIO_BITRATE
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    return stream


def _audio_frames(samples: np.ndarray, chunk: int = 1024) -> Iterator[Any]:
    pts = 0
    for start in range(0, samples.size, chunk):
        block = samples[start : start + chunk]
        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = Fraction(1, AUDIO_RATE)
        pts += block.size
        yield frame


def encode_media(
    path: Path,
    frames: Iterator[Image.Image | np.ndarray] | None,
    audio: np.ndarray | None,
    *,
    size: tuple[int, int] = VIDEO_SIZE,
    crf: int = 28,
    preset: str = "slow",
    tune: str | None = "stillimage",
) -> None:
    """Write an MP4/M4A with H.264 video (if ``frames``) and AAC audio (if ``audio``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "ipod" if path.suffix == ".m4a" else "mp4"
    with av.open(str(path), "w", format=fmt, options=CONTAINER_OPTIONS) as container:
        vstream = _add_video_stream(container, size, crf, preset, tune) if frames else None
        astream = _add_audio_stream(container) if audio is not None else None
        audio_iter = _audio_frames(np.clip(audio, -1, 1)) if audio is not None else iter(())
        pending = next(audio_iter, None)

        def flush_audio_until(t: float) -> None:
            nonlocal pending
            while astream is not None and pending is not None and pending.pts / AUDIO_RATE < t:
                container.mux(astream.encode(pending))
                pending = next(audio_iter, None)

        if vstream is not None and frames is not None:
            for index, image in enumerate(frames):
                flush_audio_until((index + 1) / FPS)
                rgb = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
                vframe = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                vframe.pts = index
                vframe.time_base = Fraction(1, FPS)
                container.mux(vstream.encode(vframe))
            container.mux(vstream.encode(None))
        flush_audio_until(math.inf)
        if astream is not None:
            container.mux(astream.encode(None))


# --------------------------------------------------------------------------------------
# Pictogram frames
# --------------------------------------------------------------------------------------


class Pictograms:
    """Rasterises the committed OpenMoji SVGs with rsvg-convert, cached per size."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("rsvg-convert") is None:
            sys.exit("rsvg-convert not found: apt-get install librsvg2-bin")
        self.workdir = workdir
        self.cache: dict[tuple[str, int], Image.Image] = {}

    def get(self, name: str, size: int) -> Image.Image:
        key = (name, size)
        if key not in self.cache:
            out = self.workdir / f"{name}-{size}.png"
            svg = MEDIA / "pictograms" / f"{name}.svg"
            subprocess.run(
                ["rsvg-convert", "-w", str(size), "-h", str(size), "-o", str(out), str(svg)],
                check=True,
            )
            with Image.open(out) as im:
                self.cache[key] = im.convert("RGBA")
        return self.cache[key]

    def card(self, name: str, size: int) -> Image.Image:
        """A pictogram on a white rounded card (the card is 1.25 × the pictogram)."""
        key = (f"card:{name}", size)
        if key not in self.cache:
            side = round(size * 1.25)
            card = Image.new("RGBA", (side, side), (0, 0, 0, 0))
            ImageDraw.Draw(card).rounded_rectangle(
                (0, 0, side - 1, side - 1), radius=side // 6, fill=(*CARD, 255)
            )
            pic = self.get(name, size)
            offset = (side - size) // 2
            card.alpha_composite(pic, (offset, offset))
            self.cache[key] = card
        return self.cache[key]


def ease_out(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return 1 - (1 - x) ** 3


@dataclass(frozen=True)
class Item:
    name: str
    size: int
    center: tuple[int, int]
    appear: float  # seconds; <= 0 means already there at the scene start


def layout(scene: tuple[Row, ...], width: int, height: int) -> list[list[tuple[str, int, int, int]]]:
    """Centre rows of cards; returns per row (name, size, cx, cy)."""
    gap = 24
    sides = [round(size * 1.25) for size, _ in scene]
    total_h = sum(sides) + gap * (len(scene) - 1)
    y = (height - total_h) // 2
    rows: list[list[tuple[str, int, int, int]]] = []
    for (size, names), side in zip(scene, sides, strict=True):
        row_gap = max(16, min(40, (width - side * len(names)) // (len(names) + 1)))
        total_w = side * len(names) + row_gap * (len(names) - 1)
        x = (width - total_w) // 2
        rows.append(
            [(n, size, x + i * (side + row_gap) + side // 2, y + side // 2) for i, n in enumerate(names)]
        )
        y += side + gap
    return rows


def scene_items(sentences: Sequence[Sentence], cues: Sequence[Cue]) -> list[tuple[float, list[Item]]]:
    """The scenes of a video as (start time, items), one per sentence that sets a scene."""
    scenes: list[tuple[float, list[Item]]] = []
    for i, (sentence, cue) in enumerate(zip(sentences, cues, strict=True)):
        if sentence.scene is None:
            continue
        start = 0.0 if i == 0 else cue.start - 0.15
        items: list[Item] = []
        for r, row in enumerate(layout(sentence.scene, *VIDEO_SIZE)):
            for j, (name, size, cx, cy) in enumerate(row):
                if r == 0:
                    appear = 0.0 if i == 0 else start
                elif sentence.stagger:
                    span = (cue.end - cue.start) * 0.85
                    appear = cue.start + span * j / max(1, len(row))
                else:
                    appear = start + 0.2
                items.append(Item(name, size, (cx, cy), appear))
        scenes.append((start, items))
    return scenes


def pictogram_frames(
    pictos: Pictograms,
    scenes: Sequence[tuple[float, list[Item]]],
    n_frames: int,
    pulse_period: float | None = None,
) -> Iterator[Image.Image]:
    base = Image.new("RGBA", VIDEO_SIZE, (*BACKGROUND, 255))
    pop = 0.35  # seconds a card takes to pop in
    for index in range(n_frames):
        t = index / FPS
        current = [s for s in scenes if s[0] <= t + 1e-9]
        _, items = current[-1] if current else scenes[0]
        frame = base.copy()
        for item in items:
            progress = 1.0 if item.appear <= 0 else ease_out((t - item.appear) / pop)
            if progress <= 0:
                continue
            card = pictos.card(item.name, item.size)
            scale = 0.6 + 0.4 * progress
            if pulse_period:
                scale *= 1 + 0.06 * math.sin(2 * math.pi * t / pulse_period)
            if abs(scale - 1) > 1e-3:
                side = max(2, round(card.width * scale))
                card = card.resize((side, side), Image.Resampling.LANCZOS)
            if progress < 1:
                alpha = card.getchannel("A").point(lambda v, p=progress: round(v * p))
                card = card.copy()
                card.putalpha(alpha)
            frame.alpha_composite(card, (item.center[0] - card.width // 2, item.center[1] - card.height // 2))
        yield frame.convert("RGB")


def make_spoken_video(
    path: Path,
    sentences: Sequence[Sentence],
    lang: str,
    pictos: Pictograms,
    workdir: Path,
    *,
    pulse: bool = False,
    min_seconds: float = 0.0,
) -> None:
    texts = [s.text[lang] for s in sentences]
    audio, cues, duration = speak_sentences(texts, lang, workdir, min_seconds)
    n_frames = round(duration * FPS)
    pulse_period = None
    if pulse:
        # A whole number of pulses over the video, so that it loops without a jump.
        pulse_period = duration / max(1, round(duration / 1.6))
    scenes = scene_items(sentences, cues)
    encode_media(path, pictogram_frames(pictos, scenes, n_frames, pulse_period), audio)
    write_vtt(path.with_suffix(".vtt"), cues)


# --------------------------------------------------------------------------------------
# Talking-head sample (camera and demo answer)
# --------------------------------------------------------------------------------------


def room_background(width: int, height: int) -> np.ndarray:
    """A still, slightly out-of-focus library corner: wall, bookshelf, window."""
    img = Image.new("RGB", (width, height), (196, 186, 168))
    d = ImageDraw.Draw(img)
    u = width / 1280
    # Wall gradient
    for y in range(height):
        shade = int(18 * y / height)
        d.line([(0, y), (width, y)], fill=(200 - shade, 190 - shade, 172 - shade))
    # Window on the right
    d.rectangle((int(930 * u), int(70 * u), int(1210 * u), int(380 * u)), fill=(222, 232, 240))
    d.rectangle((int(1062 * u), int(70 * u), int(1078 * u), int(380 * u)), fill=(150, 140, 126))
    # Bookshelf on the left with book spines
    rng = np.random.default_rng(7)
    d.rectangle((int(40 * u), int(60 * u), int(520 * u), height), fill=(120, 84, 52))
    palette = [
        (168, 52, 48),
        (48, 92, 150),
        (212, 170, 60),
        (60, 120, 84),
        (90, 60, 120),
        (230, 226, 214),
        (40, 40, 44),
        (190, 110, 60),
    ]
    for shelf_y in (90, 250, 410, 570):
        x = 56.0
        top = shelf_y * u
        while x < 500:
            w = float(rng.integers(14, 34))
            h = float(rng.integers(100, 140))
            color = palette[int(rng.integers(0, len(palette)))]
            d.rectangle(
                (int(x * u), int(top + (140 - h) * u), int((x + w - 2) * u), int(top + 140 * u)),
                fill=color,
            )
            x += w
        d.rectangle((int(40 * u), int(top + 140 * u), int(520 * u), int(top + 152 * u)), fill=(96, 66, 40))
    img = img.filter(ImageFilter.GaussianBlur(3 * u))
    return np.asarray(img, dtype=np.float32)


def person_layer(width: int, height: int, t: float, mouth: float) -> tuple[np.ndarray, np.ndarray]:
    """Head and shoulders at time ``t``: returns (RGB float image, alpha 0..1)."""
    u = width / 1280
    sway_x = 60 * math.sin(2 * math.pi * t / 7.0) + 14 * math.sin(2 * math.pi * t / 2.3)
    bob_y = 10 * math.sin(2 * math.pi * t / 3.1)
    tilt = 4 * math.sin(2 * math.pi * t / 4.3)
    cx, cy = width / 2 + sway_x * u, (310 + bob_y) * u

    color = Image.new("RGB", (width, height), (0, 0, 0))
    mask = Image.new("L", (width, height), 0)
    dc, dm = ImageDraw.Draw(color), ImageDraw.Draw(mask)

    def ellipse(box: tuple[float, float, float, float], fill: tuple[int, int, int]) -> None:
        dc.ellipse(box, fill=fill)
        dm.ellipse(box, fill=255)

    # Shoulders and torso (a jumper)
    sx = width / 2 + sway_x * 0.6 * u
    ellipse((sx - 330 * u, 540 * u, sx + 330 * u, 980 * u), (54, 86, 120))
    dc.rectangle((sx - 70 * u, 420 * u, sx + 70 * u, 560 * u), fill=(214, 170, 140))
    dm.rectangle((sx - 70 * u, 420 * u, sx + 70 * u, 560 * u), fill=255)
    ellipse((sx - 95 * u, 520 * u, sx + 95 * u, 600 * u), (54, 86, 120))
    # Head, hair, eyes and mouth
    hx = cx + tilt * 3 * u
    ellipse((hx - 115 * u, cy - 150 * u, hx + 115 * u, cy + 150 * u), (222, 180, 150))
    dc.chord((hx - 122 * u, cy - 165 * u, hx + 122 * u, cy + 40 * u), 180, 360, fill=(70, 48, 34))
    dm.chord((hx - 122 * u, cy - 165 * u, hx + 122 * u, cy + 40 * u), 180, 360, fill=255)
    blink = (t % 3.7) < 0.12
    for ex in (-45, 45):
        if blink:
            dc.line(
                (hx + (ex - 16) * u, cy + 5 * u, hx + (ex + 16) * u, cy + 5 * u),
                fill=(60, 40, 30),
                width=max(1, int(4 * u)),
            )
        else:
            dc.ellipse(
                (hx + (ex - 14) * u, cy - 6 * u, hx + (ex + 14) * u, cy + 14 * u),
                fill=(250, 250, 250),
            )
            dc.ellipse((hx + (ex - 7) * u, cy - 1 * u, hx + (ex + 7) * u, cy + 11 * u), fill=(50, 36, 28))
    open_h = 4 + 26 * mouth
    dc.ellipse(
        (hx - 34 * u, cy + 80 * u - open_h * u / 2, hx + 34 * u, cy + 80 * u + open_h * u / 2),
        fill=(120, 40, 40),
    )
    color = color.filter(ImageFilter.GaussianBlur(1.2 * u))
    mask = mask.filter(ImageFilter.GaussianBlur(1.5 * u))
    return np.asarray(color, dtype=np.float32), np.asarray(mask, dtype=np.float32)[..., None] / 255


def talking_head_frames(
    size: tuple[int, int], n_frames: int, mouth: np.ndarray, noise_sigma: float, seed: int
) -> Iterator[np.ndarray]:
    width, height = size
    background = room_background(width, height)
    rng = np.random.default_rng(seed)
    for index in range(n_frames):
        t = index / FPS
        color, alpha = person_layer(width, height, t, float(mouth[index]))
        frame = background * (1 - alpha) + color * alpha
        frame += rng.normal(0.0, noise_sigma, frame.shape).astype(np.float32)
        yield np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def mouth_track(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Mouth opening 0..1 per video frame from the loudness of the speech."""
    per_frame = AUDIO_RATE // FPS
    padded = np.pad(audio, (0, max(0, n_frames * per_frame - audio.size)))
    rms = np.sqrt(np.mean(padded[: n_frames * per_frame].reshape(n_frames, per_frame) ** 2, 1))
    peak = float(rms.max()) or 1.0
    track: np.ndarray = np.clip(rms / peak * 1.4, 0, 1)
    return track


def make_camera(path: Path) -> None:
    n_frames = 8 * FPS
    # Fake speech rhythm: the person talks in bursts.
    t = np.arange(n_frames) / FPS
    mouth = np.clip(np.sin(2 * np.pi * t * 2.7) * (np.sin(2 * np.pi * t / 3.0) > -0.3), 0, 1)
    frames = talking_head_frames(CAMERA_SIZE, n_frames, mouth, noise_sigma=2.0, seed=20240)
    encode_media(path, frames, None, size=CAMERA_SIZE, crf=18, preset="medium", tune=None)


def make_answer_video(path: Path, workdir: Path) -> None:
    audio, _, duration = speak_sentences([SAMPLE_ANSWER_VIDEO_TEXT], "nl", workdir)
    n_frames = round(duration * FPS)
    frames = talking_head_frames(VIDEO_SIZE, n_frames, mouth_track(audio, n_frames), 1.5, 4242)
    encode_media(path, frames, audio, crf=26, preset="medium", tune=None)


# --------------------------------------------------------------------------------------
# Short sounds
# --------------------------------------------------------------------------------------


def tone(freqs: Sequence[float], seconds: float, volume: float = 0.5) -> np.ndarray:
    """Sine tones one after another, each with a soft attack and release."""
    parts = []
    for f in freqs:
        n = int(seconds * AUDIO_RATE)
        t = np.arange(n) / AUDIO_RATE
        env = np.minimum(1, np.minimum(t / 0.005, (seconds - t) / 0.03))
        parts.append(volume * env * np.sin(2 * np.pi * f * t))
    return np.concatenate(parts).astype(np.float32)


def tap_sound() -> np.ndarray:
    n = int(0.05 * AUDIO_RATE)
    t = np.arange(n) / AUDIO_RATE
    click = np.sin(2 * np.pi * 1800 * t) * np.exp(-t / 0.008)
    return (0.6 * click).astype(np.float32)


def make_sounds() -> dict[str, np.ndarray]:
    return {
        "beep": tone([880], 0.15),
        "tap": tap_sound(),
        "start": tone([660, 990], 0.12),
        "stop": tone([990, 660], 0.12),
    }


# --------------------------------------------------------------------------------------
# Pictogram files, credits, manifest
# --------------------------------------------------------------------------------------


def copy_pictograms(openmoji_dir: Path) -> None:
    """Copy the chosen SVGs from an extracted ``npm pack openmoji`` (its ``package`` folder)."""
    src = openmoji_dir / "color" / "svg"
    dest = MEDIA / "pictograms"
    dest.mkdir(exist_ok=True)
    for name, (hexcode, _) in PICTOGRAMS.items():
        shutil.copyfile(src / f"{hexcode}.svg", dest / f"{name}.svg")
    version = json.loads((openmoji_dir / "package.json").read_text())["version"]
    (dest / "OPENMOJI_VERSION").write_text(version + "\n")


def write_credits() -> None:
    version = (MEDIA / "pictograms" / "OPENMOJI_VERSION").read_text().strip()
    lines = [
        "# Credits",
        "",
        "## Pictograms",
        "",
        f"All pictograms in `pictograms/` are from **OpenMoji** {version} – the open-source",
        "emoji and icon project. https://openmoji.org",
        "",
        "License: **CC BY-SA 4.0** (Creative Commons Attribution-ShareAlike 4.0 International),",
        "https://creativecommons.org/licenses/by-sa/4.0/",
        "",
        "The SVG files are copied unchanged from the npm package `openmoji` (folder `color/svg`),",
        "renamed as listed below. The question and kiosk videos show these pictograms and are",
        "therefore adaptations, shared under the same licence (see README.md).",
        "",
        "| file | OpenMoji hexcode | emoji |",
        "|---|---|---|",
    ]
    for name, (hexcode, what) in PICTOGRAMS.items():
        codepoints = " ".join(f"U+{c}" for c in hexcode.split("-"))
        lines.append(f"| `pictograms/{name}.svg` | {codepoints} | {what} |")
    lines += [
        "",
        "## Speech",
        "",
        "All speech is synthesised with eSpeak NG (`espeak-ng -v nl` / `-v en`).",
        "",
    ]
    (MEDIA / "CREDITS.md").write_text("\n".join(lines), encoding="utf-8")


def builtin_spoken_texts() -> list[tuple[str, dict[str, str]]]:
    """(file stem under audio/, text per language) of the member question, the chooser and the
    demo's activity names."""
    return [
        ("member-question", MEMBER_PROMPT),
        *((f"member-{o.value}", o.label) for o in MEMBER_OPTIONS),
        ("came-for", CHOOSER_PROMPT),
        (f"came-for-{GENERAL_VISIT.value}", GENERAL_VISIT.label),
        *((f"activity-name-{o.value}", o.label) for o in DEMO_ACTIVITIES),
    ]


def _spoken_option(stem: str, option: Option) -> dict[str, Any]:
    return {
        "value": option.value,
        "label": dict(option.label),
        "pictogram": f"pictograms/{option.pictogram}.svg",
        "audio": lang_map(lambda lang: f"audio/{stem}.{lang}.m4a"),
    }


def lang_map(fn: Any) -> dict[str, Any]:
    return {lang: fn(lang) for lang in LANGS}


def build_manifest() -> dict[str, Any]:
    def video_pair(stem: str) -> Any:
        return lambda lang: {"video": f"{stem}.{lang}.mp4", "subtitles": f"{stem}.{lang}.vtt"}

    questions = []
    for q in QUESTIONS:
        questions.append(
            {
                "key": q.key,
                "kind": q.kind,
                "name": dict(q.name),
                "prompt": lang_map(
                    lambda lang, q=q: {
                        "text": " ".join(s.text[lang] for s in q.sentences),
                        **video_pair(f"questions/{q.key}")(lang),
                    }
                ),
                "options": [
                    {
                        "value": o.value,
                        "label": dict(o.label),
                        "pictogram": f"pictograms/{o.pictogram}.svg",
                        "audio": lang_map(lambda lang, q=q, o=o: f"audio/{q.key}-{o.value}.{lang}.m4a"),
                    }
                    for o in q.options
                ],
            }
        )
    return {
        "languages": [
            {
                "code": "nl",
                "name": LANG_NAMES["nl"],
                "flag": "pictograms/flag-nl.svg",
                "spoken_name": "audio/lang-nl.m4a",
            },
            {
                "code": "en",
                "name": LANG_NAMES["en"],
                "flag": "pictograms/flag-gb.svg",
                "spoken_name": "audio/lang-en.m4a",
            },
        ],
        "kiosk_videos": {k.key: lang_map(video_pair(f"kiosk/{k.key}")) for k in KIOSK_VIDEOS},
        "sounds": {name: f"sounds/{name}.m4a" for name in make_sounds()},
        "questions": questions,
        "member_question": {
            "pictogram": "pictograms/library-card.svg",
            "prompt": lang_map(
                lambda lang: {"text": MEMBER_PROMPT[lang], "audio": f"audio/member-question.{lang}.m4a"}
            ),
            "options": [_spoken_option(f"member-{o.value}", o) for o in MEMBER_OPTIONS],
        },
        "activity_chooser": {
            "prompt": lang_map(
                lambda lang: {"text": CHOOSER_PROMPT[lang], "audio": f"audio/came-for.{lang}.m4a"}
            ),
            "general": _spoken_option(f"came-for-{GENERAL_VISIT.value}", GENERAL_VISIT),
        },
        "demo_activities": [_spoken_option(f"activity-name-{o.value}", o) for o in DEMO_ACTIVITIES],
        "sample_answers": {"video": "sample/answer-video.mp4", "voice": "sample/answer-voice.m4a"},
        "camera": "sample/camera.mp4",
    }


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def clean(folder: Path, patterns: Sequence[str]) -> None:
    for pattern in patterns:
        for f in folder.glob(pattern):
            f.unlink()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--openmoji",
        type=Path,
        help="extracted `npm pack openmoji` folder (package/): re-copy the SVGs from it",
    )
    parser.add_argument(
        "--only",
        choices=["questions", "kiosk", "audio", "sounds", "sample", "manifest"],
        action="append",
        help="regenerate only these parts (repeatable); default: all",
    )
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng not found: apt-get install espeak-ng")
    parts = set(args.only or ["questions", "kiosk", "audio", "sounds", "sample", "manifest"])

    if args.openmoji:
        copy_pictograms(args.openmoji)

    with tempfile.TemporaryDirectory(prefix="vertelpaal-media-") as tmp:
        work = Path(tmp)
        pictos = Pictograms(work / "png")
        (work / "png").mkdir()

        if "questions" in parts:
            clean(MEDIA / "questions", ["*.mp4", "*.vtt"])
            for q in QUESTIONS:
                for lang in LANGS:
                    out = MEDIA / "questions" / f"{q.key}.{lang}.mp4"
                    print(f"question {out.name}", flush=True)
                    make_spoken_video(out, q.sentences, lang, pictos, work / "speech")

        if "kiosk" in parts:
            clean(MEDIA / "kiosk", ["*.mp4", "*.vtt"])
            for k in KIOSK_VIDEOS:
                for lang in LANGS:
                    out = MEDIA / "kiosk" / f"{k.key}.{lang}.mp4"
                    print(f"kiosk {out.name}", flush=True)
                    make_spoken_video(
                        out,
                        k.sentences,
                        lang,
                        pictos,
                        work / "speech",
                        pulse=k.pulse,
                        min_seconds=k.min_seconds,
                    )

        if "audio" in parts:
            clean(MEDIA / "audio", ["*.m4a"])
            print("spoken labels", flush=True)
            for q in QUESTIONS:
                for o in q.options:
                    for lang in LANGS:
                        speech, rate = speak(o.label[lang], lang, work / "speech")
                        audio = np.pad(resample(speech, rate, AUDIO_RATE), (0, AUDIO_RATE // 10))
                        encode_media(MEDIA / "audio" / f"{q.key}-{o.value}.{lang}.m4a", None, audio)
            for stem, text in builtin_spoken_texts():
                for lang in LANGS:
                    speech, rate = speak(text[lang], lang, work / "speech")
                    audio = np.pad(resample(speech, rate, AUDIO_RATE), (0, AUDIO_RATE // 10))
                    encode_media(MEDIA / "audio" / f"{stem}.{lang}.m4a", None, audio)
            for lang in LANGS:
                speech, rate = speak(LANG_NAMES[lang], lang, work / "speech")
                audio = np.pad(resample(speech, rate, AUDIO_RATE), (0, AUDIO_RATE // 10))
                encode_media(MEDIA / "audio" / f"lang-{lang}.m4a", None, audio)

        if "sounds" in parts:
            print("sounds", flush=True)
            for name, samples in make_sounds().items():
                encode_media(MEDIA / "sounds" / f"{name}.m4a", None, samples)

        if "sample" in parts:
            print("sample/camera.mp4", flush=True)
            make_camera(MEDIA / "sample" / "camera.mp4")
            print("sample/answer-video.mp4", flush=True)
            make_answer_video(MEDIA / "sample" / "answer-video.mp4", work / "speech")
            print("sample/answer-voice.m4a", flush=True)
            audio, _, _ = speak_sentences([SAMPLE_ANSWER_VOICE_TEXT], "nl", work / "speech")
            encode_media(MEDIA / "sample" / "answer-voice.m4a", None, audio)

        if "manifest" in parts:
            write_credits()
            manifest = build_manifest()
            (MEDIA / "manifest.json").write_text(
                json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
    print("done", flush=True)


if __name__ == "__main__":
    main()
