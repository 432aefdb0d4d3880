"""Check that an uploaded file really is what it claims to be, by opening it.

Videos are opened with PyAV, subtitles parsed as WebVTT, pictograms parsed as SVG or decoded as
images. A file that fails gets a ``BadMedia`` with a message for the person who uploaded it.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
from defusedxml import ElementTree
from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    seconds: float
    video_bytes: int
    audio_bytes: int


# Question videos are short; a visitor's answer may last up to the kiosk's longest setting (600 s).
PROMPT_LIMITS = Limits(seconds=180.0, video_bytes=150 * MB, audio_bytes=20 * MB)
RECORDING_LIMITS = Limits(seconds=660.0, video_bytes=300 * MB, audio_bytes=60 * MB)
MAX_SUBTITLE_BYTES = 256 * 1024
MAX_PICTOGRAM_BYTES = 2 * 1024 * 1024
# Pixel limits, checked from the file's header before anything is decoded: a few KB of PNG can
# claim 30000×30000 pixels (3.6 GB once decoded), a video frame of 8192×8192 cost a worker ~950 MB.
MAX_PICTOGRAM_SIDE = 4096
# Full HD in either orientation: the kiosk's screen and camera never need more.
MAX_VIDEO_LONG_SIDE = 1920
MAX_VIDEO_SHORT_SIDE = 1080
MAX_VIDEO_FPS = 60

_TIMING = re.compile(
    r"^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})\s+-->\s+(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})(?:\s.*)?$"
)


class BadMedia(ValueError):
    """The upload is not the media it should be; the message says why, in the user's language."""


@dataclass(frozen=True)
class VideoInfo:
    content_type: str
    duration: float
    width: int
    height: int
    has_audio: bool


def _check_size(path: Path, limit: int) -> None:
    if path.stat().st_size > limit:
        raise BadMedia(_("This file is too large: at most %(mb)d MB.", mb=limit // MB))


# The decoders themselves refuse larger frames: a stream may change its size after the header
# that _check_video_frame read. They count coded sizes, padded to whole macroblocks (1080 → 1088,
# more in portrait): hence the margin.
_DECODER_OPTIONS = {"max_pixels": str((MAX_VIDEO_LONG_SIDE + 64) * (MAX_VIDEO_SHORT_SIDE + 64))}


def _open(path: Path) -> av.container.InputContainer:
    # For the decoders av.open uses to probe the streams, then for the ones that decode later.
    container = av.open(str(path), options=_DECODER_OPTIONS)
    for stream in container.streams.video:
        if stream.codec_context is not None:
            stream.codec_context.options = dict(_DECODER_OPTIONS)
    return container


def _check_video_frame(stream: av.video.stream.VideoStream) -> None:
    """Refuse frames larger than full HD or faster than 60 per second, from the header alone."""
    if stream.codec_context is None:  # no decoder for it (a picture named .mp4)
        raise BadMedia(_("This file is not a video we can play."))
    width, height = stream.codec_context.width, stream.codec_context.height
    if max(width, height) > MAX_VIDEO_LONG_SIDE or min(width, height) > MAX_VIDEO_SHORT_SIDE:
        raise BadMedia(
            _(
                "This video is %(width)d×%(height)d pixels; at most %(long)d×%(short)d are allowed.",
                width=width,
                height=height,
                long=MAX_VIDEO_LONG_SIDE,
                short=MAX_VIDEO_SHORT_SIDE,
            )
        )
    # Not guessed_rate: for browser-made WebM that is the time base (1000), not frames.
    rate = stream.average_rate
    if rate is not None and float(rate) > MAX_VIDEO_FPS:
        raise BadMedia(
            _(
                "This video has %(fps)d frames per second; at most %(max)d are allowed.",
                fps=round(rate),
                max=MAX_VIDEO_FPS,
            )
        )


def inspect_video(path: Path, limits: Limits = PROMPT_LIMITS) -> VideoInfo:
    _check_size(path, limits.video_bytes)
    try:
        with _open(path) as container:
            if not container.streams.video:
                raise BadMedia(_("This file has no video in it."))
            stream = container.streams.video[0]
            duration = _duration(container, stream)
            _check_video_frame(stream)
            # Decoding one frame proves the codec is really there and readable.
            next(container.decode(stream), None)
            width, height = stream.codec_context.width, stream.codec_context.height
            has_audio = bool(container.streams.audio)
            fmt = container.format.name
    except (av.error.FFmpegError, StopIteration, UnicodeDecodeError) as exc:
        raise BadMedia(_("This file is not a video we can play.")) from exc
    if duration <= 0 or not width or not height:
        raise BadMedia(_("This video is empty."))
    if duration > limits.seconds:
        raise BadMedia(
            _(
                "This video is %(seconds)d seconds long; at most %(max)d seconds are allowed.",
                seconds=round(duration),
                max=round(limits.seconds),
            )
        )
    content_type = "video/webm" if "webm" in fmt or "matroska" in fmt else "video/mp4"
    return VideoInfo(content_type, duration, width, height, has_audio)


def inspect_audio(path: Path, limits: Limits = PROMPT_LIMITS) -> float:
    """Duration in seconds of a file that holds sound."""
    _check_size(path, limits.audio_bytes)
    try:
        with _open(path) as container:
            if not container.streams.audio:
                raise BadMedia(_("This file has no sound in it."))
            # A voice answer (or a spoken label) must never show a face: no picture track at all,
            # not even a cover image.
            if container.streams.video:
                raise BadMedia(_("A sound file must hold sound only; this one also has pictures."))
            duration = _duration(container, container.streams.audio[0])
    except av.error.FFmpegError as exc:
        raise BadMedia(_("This file is not a sound file we can play.")) from exc
    return duration


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def make_poster(path: Path, at_seconds: float = 1.0, width: int = 640) -> bytes:
    """A JPEG of the frame about ``at_seconds`` in (or the last one before the end)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time >= at_seconds:
                break
        if chosen is None:
            raise BadMedia(_("This video has no pictures in it."))
        image = chosen.to_image()
    image.thumbnail((width, width))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=82)
    return out.getvalue()


def check_subtitles(data: bytes) -> int:
    """Number of cues in a WebVTT file; raises ``BadMedia`` when it is not valid WebVTT."""
    if len(data) > MAX_SUBTITLE_BYTES:
        raise BadMedia(_("This subtitle file is too large."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadMedia(_("Subtitles must be a UTF-8 text file.")) from exc
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or not (lines[0] == "WEBVTT" or lines[0].startswith(("WEBVTT ", "WEBVTT\t"))):
        raise BadMedia(_("A subtitle file must start with the line WEBVTT."))
    cues = 0
    for number, line in enumerate(lines, start=1):
        if "-->" not in line:
            continue
        match = _TIMING.match(line.strip())
        if not match:
            raise BadMedia(_("Line %(line)d of the subtitles has a wrong time.", line=number))
        start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
        if end <= start:
            raise BadMedia(_("Line %(line)d of the subtitles ends before it starts.", line=number))
        cues += 1
    if cues == 0:
        raise BadMedia(_("This subtitle file has no subtitles in it."))
    return cues


def _seconds(parts: tuple[str | None, ...]) -> float:
    hours, minutes, seconds, millis = (int(p) if p else 0 for p in parts)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


# What lets an SVG do more than draw: run code, embed a page, or fetch from elsewhere.
_SVG_ACTIVE_ELEMENTS = frozenset(
    {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener"}
)
_HREF_ATTRIBUTES = frozenset({"href", "src"})
_INTERNAL_URL = re.compile(r"^(#|data:image/(png|jpeg|webp);)", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*(?!#)|@import|expression\(|javascript:", re.IGNORECASE)


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _svg_can_act(root: ElementTree.Element) -> bool:
    """Whether the picture carries scripts, event handlers, foreign objects or outside references.
    Checked on the parsed tree, so no spelling or namespace trick hides them."""
    for element in root.iter():
        tag = _local(str(element.tag))
        if tag in _SVG_ACTIVE_ELEMENTS:
            return True
        if tag == "style" and _CSS_URL.search(element.text or ""):
            return True
        for name, value in element.attrib.items():
            attribute = _local(name)
            if attribute.startswith("on"):
                return True
            if attribute in _HREF_ATTRIBUTES and not _INTERNAL_URL.match(value.strip()):
                return True
            if attribute == "style" and _CSS_URL.search(value):
                return True
            # <set>/<animate> can change a link into javascript: after the check.
            if attribute == "attributename" and _local(value.strip()) in _HREF_ATTRIBUTES:
                return True
    return False


def _too_many_pixels(width: int, height: int) -> BadMedia:
    side = MAX_PICTOGRAM_SIDE
    if not width:
        return BadMedia(_("This picture has too many pixels: at most %(side)d×%(side)d.", side=side))
    return BadMedia(
        _(
            "This picture is %(width)d×%(height)d pixels; at most %(side)d×%(side)d are allowed.",
            width=width,
            height=height,
            side=side,
        )
    )


def check_pictogram(data: bytes) -> str:
    """The content type of a pictogram (SVG, PNG, JPEG or WebP)."""
    if len(data) > MAX_PICTOGRAM_BYTES:
        raise BadMedia(_("This picture is too large."))
    head = data.lstrip()[:5].lower()
    if head.startswith((b"<svg", b"<?xml", b"<!--")):
        try:
            root = ElementTree.fromstring(data)
        except Exception as exc:  # defusedxml raises several kinds for hostile or broken XML
            raise BadMedia(_("This SVG picture cannot be read.")) from exc
        if not root.tag.endswith("svg"):
            raise BadMedia(_("This SVG picture cannot be read."))
        if _svg_can_act(root):
            raise BadMedia(
                _("This SVG picture contains scripts or links to other files; save it as a plain picture.")
            )
        return "image/svg+xml"
    try:
        # Image.open reads the header only; the size is known before a pixel is decoded.
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if max(width, height) > MAX_PICTOGRAM_SIDE:
                raise _too_many_pixels(width, height)
            image.verify()
            kind = (image.format or "").lower()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard, for sizes far past ours (a warning, raised where warnings are errors).
        raise _too_many_pixels(0, 0) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise BadMedia(_("This file is not a picture we can show.")) from exc
    if kind not in ("png", "jpeg", "webp"):
        raise BadMedia(_("Pictures must be SVG, PNG, JPEG or WebP."))
    return f"image/{kind}"
