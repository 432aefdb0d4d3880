"""Real processes for the end-to-end sync tests, all on 127.0.0.1.

The admin server runs under gunicorn with ``deploy/gunicorn.conf.py`` (its own process group, so
``kill -9`` takes master and workers at once), the kiosk's sync service as
``python -m kiosk sync --config FILE``, and the database is a fresh PostgreSQL database made with
``CREATE DATABASE`` (a copy of a migrated and seeded template, so each test starts from the same
state without paying for ``db upgrade`` and ``demo seed`` again).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import requests
from sqlalchemy import func, select

from kiosk.hardware.synthetic import write_test_video
from kiosk.outbox import Outbox
from mediaseal import SealingWriter
from tests.support.postgres import Postgres as Postgres  # the e2e tests' databases, made as the suite's are

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def wait_until(
    condition: Callable[[], Any], what: str, timeout: float, poll: float = 0.05, log: Path | None = None
) -> Any:
    """Poll until ``condition()`` is true; on a timeout, fail with the end of ``log``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            context = f"\n--- {log.name} ---\n{tail(log)}" if log else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{context}")
        time.sleep(poll)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else f"({path.name} is empty)"


# --- the admin server ----------------------------------------------------------------------


def admin_env(database_url: str, media_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "GUNICORN_BIND")}
    env.update(
        VERTELPAAL_ENV="development",
        DATABASE_URL=database_url,
        MEDIA_ROOT=str(media_root),
        KIOSK_SEALING_KEY_FILE=str(media_root.parent / "kiosk-sealing.key"),
        # Two workers (the 2-core machine), so requests of one upload really meet in different processes.
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="4",
        PYTHONUNBUFFERED="1",
    )
    return env


def flask(env: dict[str, str], *args: str) -> str:
    """``flask --app admin ARGS`` as a subprocess; returns its output, fails the test on an error."""
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "admin", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class AdminServer:
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> AdminServer:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "-c",
                    str(GUNICORN_CONF),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "admin:create_app()",
                ],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # master and workers in one process group, for kill -9
            )
        wait_until(self._ready, f"gunicorn on port {self.port}", timeout, poll=0.1, log=self.log)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{tail(self.log)}")
        try:
            # Straight to the server, not through the proxy: these bytes are not the kiosk's.
            return requests.get(f"{self.url}/api/kiosk/v1/openapi.json", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """kill -9 of master and workers: no graceful shutdown, no cleanup, as a power cut."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)  # gunicorn's quick shutdown
        try:
            # A gthread worker sometimes lingers after its "Worker exiting"; the test is over.
            self.process.wait(3)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


# --- the kiosk's sync service ------------------------------------------------------------------


def kiosk_toml(path: Path, data_dir: Path, server_url: str, chunk_kb: int) -> Path:
    path.write_text(
        f'data_dir = "{data_dir}"\n'
        f'server_url = "{server_url}"\n'
        'languages = ["nl", "en"]\n'
        "[sync]\n"
        # No idle rounds while a test runs (every byte on the wire is then the test's), a short
        # backoff so a test waits seconds rather than minutes, and small upload chunks.
        "interval_seconds = 600\n"
        "max_backoff_seconds = 1\n"
        f"upload_chunk_kb = {chunk_kb}\n",
        "utf-8",
    )
    return path


@dataclass
class SyncProcess:
    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> SyncProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kiosk", "sync", "--config", str(self.config)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def failed_rounds(self) -> int:
        """Rounds that ended in an error and a backoff, as the service logged them."""
        return tail(self.log, 10**9).count("sync failed (")


# --- recordings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    kind: str  # video | voice
    path: Path
    sha256: str
    size: int
    duration: float


def write_test_voice(path: Path, seconds: float, seed: int, rate: int = 48000) -> Path:
    """An AAC voice answer in an MP4 (m4a) container: a tone under noise, different per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    signal_ = 0.3 * np.sin(2 * np.pi * (220 + 37 * seed) * t) + 0.25 * rng.standard_normal(t.size)
    samples = signal_.clip(-1, 1).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.bit_rate = 320_000  # noise keeps the encoder near its maximum, about 220 kbit/s
        stream.layout = "mono"
        stream.codec_context.time_base = Fraction(1, rate)
        for start in range(0, samples.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="flt", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def make_recordings(folder: Path) -> list[Recording]:
    """Two video and two voice answers of about 1–3 MB, each with different content."""
    folder.mkdir(parents=True, exist_ok=True)
    made = [
        ("video", write_test_video(folder / "video-0.mp4", seconds=2.0, width=640, height=360, crf=16), 2.0),
        ("video", write_test_video(folder / "video-1.mp4", seconds=2.8, width=640, height=360, crf=16), 2.8),
        ("voice", write_test_voice(folder / "voice-0.m4a", seconds=38.0, seed=1), 38.0),
        ("voice", write_test_voice(folder / "voice-1.m4a", seconds=44.0, seed=2), 44.0),
    ]
    recordings = [
        Recording(kind, path, sha256_file(path), path.stat().st_size, seconds) for kind, path, seconds in made
    ]
    assert len({r.sha256 for r in recordings}) == len(recordings), "recordings must differ"
    return recordings


# --- the kiosk's outbox, as the kiosk service fills it ----------------------------------------


@dataclass
class Expected:
    """What the kiosk gave the server to store."""

    sessions: dict[str, list[str]] = field(default_factory=dict)  # session uuid → answer uuids
    recordings: dict[str, Recording] = field(default_factory=dict)  # answer uuid → recording

    @property
    def answers(self) -> list[str]:
        return [a for answers in self.sessions.values() for a in answers]


def fill_outbox(
    outbox: Outbox,
    questionnaire: dict[str, Any],
    recordings: list[Recording],
    seal_to: bytes | None = None,
) -> Expected:
    """Five visitors' sessions: taps, video and voice answers (every recording once).

    With ``seal_to`` (the server's public key) the recordings are written sealed, as an enrolled
    kiosk's recorder writes them; the outbox keeps the sha256 and size of the recording inside."""
    import uuid

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for question in questionnaire["questions"]:
        by_kind.setdefault(question["kind"], []).append(question)
    taps = by_kind.get("scale", []) + by_kind.get("choice", [])
    video_questions = by_kind.get("video", []) + by_kind.get("open", [])
    voice_questions = by_kind.get("voice", []) + by_kind.get("open", [])
    assert taps and video_questions and voice_questions, f"questionnaire lacks kinds: {sorted(by_kind)}"
    videos = [r for r in recordings if r.kind == "video"]
    voices = [r for r in recordings if r.kind == "voice"]
    # One answer per question (an open question takes video or voice, not both).
    plans: list[tuple[bool, list[Any]]] = [
        (True, [taps[0], taps[-1], ("video", videos[0])]),
        (True, [("voice", voices[0]), taps[0]]),
        (True, [("video", videos[1]), taps[-1]]),
        (True, [("voice", voices[1])]),
        (False, [taps[0], taps[-1]]),
    ]
    expected = Expected()
    for consent, items in plans:
        session = outbox.start_session(
            questionnaire["id"],
            questionnaire["version"],
            "nl",
            consent=consent,
            consent_version=questionnaire["consent_version"],
        )
        answers: list[str] = []
        for item in items:
            answer_uuid = str(uuid.uuid4())
            if isinstance(item, tuple):
                kind, recording = item
                question = (video_questions if kind == "video" else voice_questions)[0]
                recording_uuid, path = outbox.recording_path(kind)
                if seal_to is None:
                    shutil.copyfile(recording.path, path)
                else:
                    with recording.path.open("rb") as plain, path.open("wb") as out:
                        sealer = SealingWriter(out, seal_to)
                        shutil.copyfileobj(plain, sealer)
                        assert sealer.finish().plain_sha256 == recording.sha256
                outbox.register_recording(
                    recording_uuid, kind, path, recording.sha256, recording.size, recording.duration
                )
                outbox.add_answer(session, answer_uuid, question["id"], kind, recording_uuid=recording_uuid)
                expected.recordings[answer_uuid] = recording
            else:
                question = item
                outbox.add_answer(
                    session,
                    answer_uuid,
                    question["id"],
                    question["kind"],
                    value=question["options"][0]["value"],
                )
            answers.append(answer_uuid)
        outbox.finish_session(session)
        expected.sessions[session] = answers
    return expected


def wait_until_sent(
    outbox: Outbox, recordings_dir: Path, sync: SyncProcess, timeout: float, what: str = "the outbox to empty"
) -> None:
    def empty() -> bool:
        sessions = outbox.sessions()
        refused = [f"{s.uuid}: {s.sync_error}" for s in sessions if s.sync_error]
        assert not refused, f"the server refused sessions: {refused}\n{tail(sync.log)}"
        assert sync.alive(), f"the sync service died:\n{tail(sync.log)}"
        return not sessions and not any(recordings_dir.iterdir())

    wait_until(empty, what, timeout, poll=0.1, log=sync.log)


def partial_uploads(media_root: Path) -> Iterator[int]:
    """Sizes of the server's unfinished uploads (MEDIA_ROOT/uploads/<id>.part)."""
    for path in (media_root / "uploads").glob("*.part"):
        try:
            yield path.stat().st_size
        except FileNotFoundError:  # finished (moved into the store) meanwhile
            continue


# --- what the server stored ----------------------------------------------------------------


def server_report(database_url: str, media_root: Path, kiosk_id: int, expected: Expected) -> dict[str, Any]:
    """What the server holds for this kiosk, read with the admin's own models (SQLAlchemy)."""
    from admin import create_app
    from admin.extensions import db
    from admin.models import Answer, Media, Session, Upload
    from admin.storage import media_store

    app = create_app(
        {
            "ENVIRON": {
                "VERTELPAAL_ENV": "development",
                "DATABASE_URL": database_url,
                "MEDIA_ROOT": str(media_root),
            }
        }
    )
    with app.app_context():
        try:
            sessions = list(db.session.scalars(select(Session.uuid).where(Session.kiosk_id == kiosk_id)))
            answers = db.session.execute(
                select(Answer.uuid, Answer.session_uuid, Answer.media_sha256).where(
                    Answer.session_uuid.in_(list(expected.sessions))
                )
            ).all()
            answer_uuids = list(
                db.session.scalars(select(Answer.uuid).where(Answer.uuid.in_(expected.answers)))
            )
            stored_files: dict[str, str | None] = {}
            media_rows: dict[str, int | None] = {}
            for recording in expected.recordings.values():
                media = db.session.get(Media, recording.sha256)
                media_rows[recording.sha256] = media.size if media else None
                path = media_store().path(recording.sha256)
                stored_files[recording.sha256] = sha256_file(path) if path.is_file() else None
            completed = dict(
                db.session.execute(
                    select(Upload.media_sha256, func.count())
                    .where(Upload.kiosk_id == kiosk_id, Upload.completed_at.is_not(None))
                    .group_by(Upload.media_sha256)
                ).all()
            )
            unfinished = db.session.scalar(
                select(func.count())
                .select_from(Upload)
                .where(Upload.kiosk_id == kiosk_id, Upload.completed_at.is_(None))
            )
        finally:
            db.session.remove()
            db.engine.dispose()
    return {
        "sessions": sessions,
        "answers": [(a.uuid, a.session_uuid, a.media_sha256) for a in answers],
        "answer_uuids": answer_uuids,
        "stored_files": stored_files,
        "media_rows": media_rows,
        "completed_uploads": completed,
        "unfinished_uploads": unfinished,
    }


def assert_stored_exactly_once(report: dict[str, Any], expected: Expected) -> None:
    assert sorted(report["sessions"]) == sorted(expected.sessions), "every session exactly once"
    assert sorted(report["answer_uuids"]) == sorted(expected.answers), "every answer exactly once"
    by_uuid = {uuid: (session, media) for uuid, session, media in report["answers"]}
    assert len(report["answers"]) == len(expected.answers), "no answer twice"
    for session_uuid, answers in expected.sessions.items():
        for answer_uuid in answers:
            session, media = by_uuid[answer_uuid]
            assert session == session_uuid
            recording = expected.recordings.get(answer_uuid)
            assert media == (recording.sha256 if recording else None)
    for recording in expected.recordings.values():
        # The file in MEDIA_ROOT is byte for byte the kiosk's: same sha256 (and size).
        assert report["stored_files"][recording.sha256] == recording.sha256
        assert report["media_rows"][recording.sha256] == recording.size
        # Resumed, never sent whole a second time.
        assert report["completed_uploads"].get(recording.sha256) == 1, report["completed_uploads"]
