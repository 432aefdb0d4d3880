"""Turning uploaded files into checked, stored ``Media`` rows (or a clear refusal).

Uploads are checked in two steps so that a form with several files stores none of them when one
is bad: ``Staging.add`` copies and checks each file into a scratch folder, then ``Staging.store``
puts them into the media store, and ``Staging.commit`` commits their rows. Files the request put
into the store are removed again unless that commit happened (a bad file after them, a full disk),
so the store never keeps a file without a row. The scratch folder goes away in every case.
"""

from __future__ import annotations

import enum
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import av.error
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError

from admin import mediacheck
from admin.extensions import db
from admin.models import (
    Answer,
    AnswerOption,
    Media,
    MediaPurpose,
    OptionTranslation,
    PrivacySettings,
    Questionnaire,
    QuestionPrompt,
    Upload,
)
from admin.storage import is_disk_full, media_store
from durable import file_sha256


class Expect(enum.Enum):
    VIDEO = "video"  # a question video: gets a poster frame at once
    SUBTITLES = "subtitles"
    PICTOGRAM = "pictogram"
    AUDIO = "audio"  # a spoken option label
    RECORDED_VIDEO = "recorded video"  # a visitor's answer (longer limits)
    RECORDED_VOICE = "recorded voice"


@dataclass(frozen=True)
class CheckedFile:
    path: Path
    expect: Expect
    content_type: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None


def check_path(path: Path, expect: Expect) -> CheckedFile:
    """Open the file as what it should be; raises ``mediacheck.BadMedia`` when it is not."""
    if expect in (Expect.VIDEO, Expect.RECORDED_VIDEO):
        limits = mediacheck.PROMPT_LIMITS if expect is Expect.VIDEO else mediacheck.RECORDING_LIMITS
        info = mediacheck.inspect_video(path, limits)
        return CheckedFile(path, expect, info.content_type, info.duration, info.width, info.height)
    if expect is Expect.SUBTITLES:
        mediacheck.check_subtitles(path.read_bytes())
        return CheckedFile(path, expect, "text/vtt")
    if expect is Expect.PICTOGRAM:
        return CheckedFile(path, expect, mediacheck.check_pictogram(path.read_bytes()))
    limits = mediacheck.RECORDING_LIMITS if expect is Expect.RECORDED_VOICE else mediacheck.PROMPT_LIMITS
    return CheckedFile(path, expect, "audio/mp4", duration=mediacheck.inspect_audio(path, limits))


class DiskFull(mediacheck.BadMedia):
    """The media disk has no room for an upload; nothing of it was kept."""

    def __init__(self) -> None:
        super().__init__(_("The server's disk is full: nothing was saved. Please tell the administrator."))


RECORDED = (Expect.RECORDED_VIDEO, Expect.RECORDED_VOICE)


def store_checked(
    checked: CheckedFile,
    sha256: str | None = None,
    placed: list[str] | None = None,
    *,
    purpose: MediaPurpose | None = None,
    kiosk_id: int | None = None,
) -> Media:
    """Put a checked file into the store with its row; ``sha256`` when the caller verified it.

    ``placed`` gets the sha256 of every file this call added to the store (not there before), so
    a caller whose commit does not happen can take them out again. ``purpose`` follows from what
    the file is unless given (a poster is its video's); ``kiosk_id`` is the kiosk whose upload made
    a recording.
    """
    purpose = purpose or (MediaPurpose.RECORDING if checked.expect in RECORDED else MediaPurpose.QUESTION)
    store = media_store()
    if sha256 is None:
        sha256 = file_sha256(checked.path)[0]
    new = not store.exists(sha256)
    sha256, size = store.put_file(checked.path, sha256)
    if new and placed is not None:
        placed.append(sha256)
    media = db.session.get(Media, sha256)
    if media is None:
        media = Media(
            sha256=sha256,
            size=size,
            content_type=checked.content_type,
            duration=checked.duration,
            width=checked.width,
            height=checked.height,
            purpose=purpose,
            kiosk_id=kiosk_id if purpose is MediaPurpose.RECORDING else None,
        )
        db.session.add(media)
    elif purpose is MediaPurpose.QUESTION and media.is_recording:
        # Staff chose these bytes for a question: from now on they are kept and shown to kiosks.
        media.purpose, media.kiosk_id = MediaPurpose.QUESTION, None
    # Answers get their poster when staff first look, so an upload's last chunk stays quick.
    if checked.expect is Expect.VIDEO and media.poster_sha256 is None:
        with tempfile.TemporaryDirectory(dir=_scratch_dir()) as scratch:
            poster = Path(scratch) / "poster.jpg"
            poster.write_bytes(mediacheck.make_poster(checked.path))
            frame = CheckedFile(poster, Expect.PICTOGRAM, "image/jpeg")
            media.poster_sha256 = store_checked(
                frame, placed=placed, purpose=purpose, kiosk_id=media.kiosk_id
            ).sha256
    db.session.flush()
    return media


def store_path(path: Path, expect: Expect, purpose: MediaPurpose | None = None) -> Media:
    return store_checked(check_path(path, expect), purpose=purpose)


def ensure_poster(media: Media) -> Media | None:
    """The poster frame of a video, made now when it has none yet (answer recordings get theirs
    when staff first look). None for sound, or when the file is gone or unreadable."""
    if media.poster_sha256 is not None:
        return db.session.get(Media, media.poster_sha256)
    if not media.content_type.startswith("video/"):
        return None
    store = media_store()
    if not store.exists(media.sha256):
        return None
    try:
        frame = mediacheck.make_poster(store.path(media.sha256))
    except (mediacheck.BadMedia, OSError, av.error.FFmpegError):
        return None
    placed: list[str] = []
    try:
        with tempfile.TemporaryDirectory(dir=_scratch_dir()) as scratch:
            path = Path(scratch) / "poster.jpg"
            path.write_bytes(frame)
            with db.session.begin_nested():
                frame_file = CheckedFile(path, Expect.PICTOGRAM, "image/jpeg")
                poster = store_checked(
                    frame_file, placed=placed, purpose=MediaPurpose(media.purpose), kiosk_id=media.kiosk_id
                )
                media.poster_sha256 = poster.sha256
    except IntegrityError:
        # Another request made the same poster at the same moment: use theirs.
        db.session.refresh(media)
        return db.session.get(Media, media.poster_sha256) if media.poster_sha256 else None
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        remove_files(placed)  # no room for the poster now: staff see none, and it is made next time
        return None
    return poster


class Staging:
    """A scratch folder for the uploads of one request, and the files it put into the store.

    A full disk while copying or storing becomes ``DiskFull`` (a ``BadMedia``, so the form says
    so). Leaving the block without ``commit`` rolls the session back and removes the files this
    request added to the store that no committed row names.
    """

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(dir=_scratch_dir())
        self._count = 0
        self._placed: list[str] = []
        self._committed = False

    def add(self, stream: BinaryIO, expect: Expect) -> CheckedFile:
        self._count += 1
        path = Path(self._dir.name) / f"upload-{self._count}"
        try:
            with path.open("wb") as out:
                while chunk := stream.read(1024 * 1024):
                    out.write(chunk)
        except OSError as exc:
            path.unlink(missing_ok=True)  # the room it took is what the next request needs
            if is_disk_full(exc):
                raise DiskFull() from exc
            raise
        return check_path(path, expect)

    def store(self, checked: CheckedFile) -> Media:
        try:
            return store_checked(checked, placed=self._placed)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull() from exc
            raise

    def commit(self) -> None:
        db.session.commit()
        self._committed = True

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._placed:
                db.session.rollback()
                # Another request may have stored the same file and committed its row meanwhile.
                kept = set(db.session.scalars(select(Media.sha256).where(Media.sha256.in_(self._placed))))
                remove_files(sha for sha in self._placed if sha not in kept)
        finally:
            self._dir.cleanup()


def _scratch_dir() -> Path:
    # Beside the store, so the final rename stays on one file system.
    scratch = Path(current_app.config["MEDIA_ROOT"]) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    return scratch


def question_media(shas: Iterable[str]) -> set[str]:
    """Those of ``shas`` that a question, option, activity or the privacy step uses now (whatever
    their purpose says: bytes a kiosk once sent as an answer may have become a question's since)."""
    shas = set(shas)
    used: set[str] = set()
    if not shas:
        return used
    prompt_videos = select(QuestionPrompt.video_sha256)
    checks: list[Select[tuple[str | None]]] = [
        select(column).where(column.in_(shas))
        for column in (
            QuestionPrompt.video_sha256,
            QuestionPrompt.subtitles_sha256,
            AnswerOption.pictogram_sha256,
            OptionTranslation.audio_sha256,
            Questionnaire.activity_pictogram_sha256,
            Questionnaire.activity_audio_sha256,
        )
    ]
    # The poster frames of question videos are the question's too.
    checks.append(
        select(Media.poster_sha256).where(Media.sha256.in_(prompt_videos), Media.poster_sha256.in_(shas))
    )
    for check in checks:
        used.update(sha for sha in db.session.scalars(check) if sha)
    for settings in db.session.scalars(select(PrivacySettings)):
        used.update(shas & set((settings.parent_audio or {}).values()))
    return used


def release_recordings(shas: Iterable[str]) -> list[str]:
    """Delete the rows of recordings that no answer uses any more, with their posters.

    Only visitors' recordings go: a file that a question, option or the privacy step uses stays,
    even when a kiosk answered with the same bytes.

    Returns the sha256s whose files go once the caller has committed: a file deleted before a
    commit that then fails would leave rows pointing at nothing. ``remove_files`` does it, and
    ``sweep_unreferenced`` catches files left behind by a crash in between.
    """
    shas = set(shas)
    still_used = set(db.session.scalars(select(Answer.media_sha256).where(Answer.media_sha256.in_(shas))))
    kept = question_media(shas - still_used)
    doomed: list[str] = []
    for sha in sorted(shas - still_used - kept):
        media = db.session.get(Media, sha)
        if media is None:
            doomed.append(sha)
            continue
        if not media.is_recording:
            continue
        db.session.execute(update(Upload).where(Upload.media_sha256 == sha).values(media_sha256=None))
        poster_sha = media.poster_sha256
        db.session.delete(media)
        db.session.flush()
        doomed.append(sha)
        # Two recordings can share a poster (the same first frame): it goes with the last of them.
        poster = db.session.get(Media, poster_sha) if poster_sha else None
        if (
            poster is not None
            and poster.is_recording
            and not question_media({poster.sha256})
            and not db.session.scalar(
                select(Media.sha256).where(Media.poster_sha256 == poster.sha256).limit(1)
            )
        ):
            db.session.delete(poster)
            doomed.append(poster.sha256)
    db.session.flush()
    return doomed


def remove_files(shas: Iterable[str]) -> int:
    """Delete stored files (after the commit that dropped their rows); how many were there."""
    store = media_store()
    removed = 0
    for sha in shas:
        if store.exists(sha):
            store.delete(sha)
            removed += 1
    return removed


# A file is put into the store before its row is committed: younger files may still get one.
UNREFERENCED_GRACE_SECONDS = 3600


def sweep_unreferenced(now: float | None = None) -> int:
    """Delete stored files that no row names (left by a crash between commit and delete)."""
    store = media_store()
    moment = (now if now is not None else time.time()) - UNREFERENCED_GRACE_SECONDS
    candidates = list(store.stored_before(moment))
    known: set[str] = set()
    for start in range(0, len(candidates), 500):
        batch = candidates[start : start + 500]
        known.update(db.session.scalars(select(Media.sha256).where(Media.sha256.in_(batch))))
    return remove_files(sha for sha in candidates if sha not in known)
