"""Sync: tus upload goodput, bytes resent after a cut, and 500 kiosks sending sessions at once.

Everything runs for real on 127.0.0.1: the admin under gunicorn (``deploy/gunicorn.conf.py``:
gthread workers) on a throwaway PostgreSQL cluster, the fault-injecting TCP proxy of the tests,
and the kiosk's own upload client, ``tuspy`` with the kiosk's settings (``upload_checksum=True``,
``kiosk.sync.CHUNK_SIZE``; tuspy opens a new connection for every request). Figures:

1. goodput (file bytes / wall time of the whole upload, creation included) of a ~10 MB recording
   through the proxy throttled to a 20 Mbit/s library link, beside one plain HTTP PUT of the same
   bytes through the same proxy to a trivial PUT endpoint (``bench/plain_put.py``: read, write,
   fsync, 201) under the same gunicorn settings; budget ≥ 0.9×;
2. goodput on bare loopback beside the official Node tus server (``@tus/server`` with
   ``@tus/file-store``, installed by npm from ``bench/package-lock.json`` into
   ``bench/node_modules``), same client, same chunk size; budget ≥ 1×. A second row repeats it
   with 4 MiB chunks, to show how much of the gap is a cost per request, and a third sets the
   floor (``bench/floors.py``: only the work the issue makes mandatory, without Flask, database
   or token) beside the same reference;
3. bytes resent after one cut connection: the proxy resets PATCH number 5 mid-chunk (and, for
   the worst case, one byte before the chunk's end); a new uploader resumes from the stored URL
   (as the kiosk does after a failure). Printed: the file bytes sent twice, the headers of the
   extra requests, and all upstream bytes beyond an uncut upload through the same proxy;
   budget ≤ one chunk. (The proxy's reset is made to reach the server: see ``_reset_for_real``.)
4. 500 kiosks (each with its own token and connection) PUT one tap session each of the demo
   questionnaire, all released at the same moment, then send the same sessions again; then
   the same with at most 32 requests in flight (what a 4-core server's 4 workers × 8 threads take
   at once): sessions per second, p50/p95/max latency, the statuses (201 new, 200 resent), and
   how many sessions the database lacks afterwards (budget: 0 lost, p95 ≤ 300 ms). Beside them
   two floors, all at once with the same bodies and client (``bench/floors.py``): HTTP only,
   and one INSERT committed per session with psycopg.

Each recording is the same 720p H.264 file with a unique ``free`` box at its end, so every upload
is new to the server (its sha256 is checked and the file stored as Media, as in production).
MB are 10^6 bytes. Run from the repository root: ``python bench/bench_sync.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support, when run as a script

import aiohttp  # noqa: E402  (tuspy's own dependency)
import psycopg  # noqa: E402
import requests  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tusclient.client import TusClient  # noqa: E402
from tusclient.exceptions import TusCommunicationError  # noqa: E402

from admin import create_app  # noqa: E402
from admin.extensions import db  # noqa: E402
from admin.kiosks.tokens import hash_secret, new_token  # noqa: E402
from admin.models import Branch, Kiosk, Media, QuestionKind, Questionnaire, Session  # noqa: E402
from kiosk.hardware.synthetic import write_test_video  # noqa: E402
from kiosk.sync import CHUNK_SIZE  # noqa: E402
from tests.support import faultproxy  # noqa: E402
from tests.support.faultproxy import FaultProxy  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.postgres import throwaway_cluster  # noqa: E402

BENCH = ROOT / "bench"
LINK_BITS_PER_SECOND = 20_000_000
LINK_RATE = LINK_BITS_PER_SECOND / 8  # bytes per second, each direction of each connection
LINK_ROUNDS = int(os.environ.get("BENCH_LINK_ROUNDS", 3))  # ~4.5 s per upload at 20 Mbit/s
LOOPBACK_ROUNDS = int(os.environ.get("BENCH_LOOPBACK_ROUNDS", 7))
KIOSKS = 500
BIG_CHUNK = 4 * 1024 * 1024
POOL = 32  # a 4-core server's 4 workers × 8 threads: beyond this, requests wait in its queue
TARGET_MB = 10.0
QUESTIONNAIRE = "Bezoekers 2026"  # the demo questionnaire every demo branch shows
MB = 1e6


# --- the proxy's cut ------------------------------------------------------------------------------


def _reset_for_real(sock: socket.socket) -> None:
    """``faultproxy._reset``, plus ``shutdown(SHUT_RD)`` before the close.

    The proxy closes both sockets of a cut connection with SO_LINGER 0 to send resets. But its
    other pump thread is blocked in ``recv()`` on the server's socket (waiting for the reply), and
    Linux releases a socket only when no system call uses it any more: the close sends nothing,
    the server keeps waiting for the rest of the body and holds the upload's lock, and the
    kiosk's resume gets 423 until the proxy shuts down. ``SHUT_RD`` wakes that ``recv()``, so
    the close really resets the connection, as a broken link would.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


faultproxy._reset = _reset_for_real


# --- servers -------------------------------------------------------------------------------------


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited:\n{log.read_text()[-3000:]}")
        try:
            # Any answer will do; gunicorn's workers load the app after the port is open.
            requests.options(f"http://127.0.0.1:{port}/", timeout=30)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}:\n{log.read_text()[-3000:]}")


@contextmanager
def process(command: list[str], port: int, log: Path, env: dict[str, str], cwd: Path = ROOT) -> Iterator[int]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        wait_listening(port, proc, log)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def gunicorn(app: str, log: Path, env: dict[str, str], *extra: str) -> Any:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}", *extra, app,
    ]  # fmt: skip
    return process(command, port, log, env)


def node_reference_server(directory: Path, log: Path) -> Any:
    installed = BENCH / "node_modules" / "@tus" / "file-store" / "package.json"
    if not installed.exists():
        print("installing @tus/server and @tus/file-store with npm ci …", flush=True)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=BENCH,
            check=True,
            timeout=300,
        )
    port = free_port()
    command = ["node", str(BENCH / "tus_reference_server.mjs"), str(port), str(directory)]
    return process(command, port, log, dict(os.environ), cwd=BENCH)


# --- recordings ----------------------------------------------------------------------------------


class Recordings:
    """The same video, made unique per upload by a ``free`` box (ignored by every MP4 reader)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        base = folder / "base.mp4"
        seconds = 4.0  # crf 16 with sensor noise: ~2.7 MB/s of 720p, a large answer in few frames
        write_test_video(base, seconds=seconds, crf=16)
        size = base.stat().st_size
        if abs(size - TARGET_MB * MB) > 2 * MB:  # a different x264 build: scale the length once
            write_test_video(base, seconds=seconds * TARGET_MB * MB / size, crf=16)
        self.base = base.read_bytes()
        self.size = len(self.base) + 24  # and the free box
        self.numbers = itertools.count(1)

    def new(self) -> Recording:
        nonce = uuid.uuid4().bytes
        data = self.base + (8 + len(nonce)).to_bytes(4, "big") + b"free" + nonce
        path = self.folder / f"answer-{next(self.numbers)}.mp4"
        path.write_bytes(data)
        # The kiosk hashes a recording when it finishes it, not when it uploads it.
        return Recording(path, hashlib.sha256(data).hexdigest(), len(data))


@dataclass(frozen=True)
class Recording:
    path: Path
    sha256: str
    size: int


# --- uploads -------------------------------------------------------------------------------------


class KioskUpload:
    """One recording sent as ``kiosk.sync.SyncService._upload`` sends it.

    The first ``send`` creates the upload and keeps its URL before sending a byte; a later
    ``send`` (after a failure) makes a new uploader with that URL, which asks the server's offset
    (HEAD) and sends the rest.
    """

    def __init__(
        self, endpoint: str, recording: Recording, headers: dict[str, str], chunk_size: int = CHUNK_SIZE
    ) -> None:
        self.endpoint = endpoint
        self.recording = recording
        self.headers = headers
        self.chunk_size = chunk_size
        self.url: str | None = None

    def send(self) -> None:
        client = TusClient(self.endpoint, headers=self.headers)
        path = self.recording.path
        metadata = {"filename": path.name, "filetype": "video/mp4", "sha256": self.recording.sha256}
        with path.open("rb") as stream:
            uploader = client.uploader(
                file_stream=stream,
                url=self.url,
                chunk_size=self.chunk_size,
                upload_checksum=True,
                metadata=metadata,
            )
            if self.url is None:
                uploader.set_url(uploader.create_url())
                uploader.offset = 0
                self.url = uploader.url
            uploader.upload()
        if uploader.offset != self.recording.size:
            raise RuntimeError(f"upload stopped at {uploader.offset} of {self.recording.size} bytes")


def tus_upload(
    endpoint: str, recording: Recording, headers: dict[str, str], chunk_size: int = CHUNK_SIZE
) -> None:
    KioskUpload(endpoint, recording, headers, chunk_size).send()


def goodput(action: Callable[[], object], size: int) -> float:
    started = time.perf_counter()
    action()
    return size / (time.perf_counter() - started) / MB


def tuspy_version() -> str:
    from importlib import metadata

    return metadata.version("tuspy")


def plain_put(url: str, path: Path) -> None:
    with path.open("rb") as stream:
        response = requests.put(url, data=stream, timeout=120)
    if response.status_code != 201:
        raise RuntimeError(f"plain PUT answered {response.status_code}")


@dataclass
class Figures:
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def spread(self) -> str:
        return f"{min(self.samples):.2f}–{max(self.samples):.2f}"


def compare(
    ours: Callable[[Recording], object],
    theirs: Callable[[Recording], object],
    recordings: Recordings,
    rounds: int,
) -> tuple[Figures, Figures, Figures]:
    """Alternate the two (so drift from other load on the machine hits both); per-round ratios."""
    mine, reference, ratios = [], [], []
    for number in range(rounds):
        pair = {}
        order = (("ours", ours), ("theirs", theirs))
        for name, action in order if number % 2 == 0 else reversed(order):
            recording = recordings.new()
            pair[name] = goodput(lambda action=action, r=recording: action(r), recording.size)
            recording.path.unlink()
        mine.append(pair["ours"])
        reference.append(pair["theirs"])
        ratios.append(pair["ours"] / pair["theirs"])
    return Figures(mine), Figures(reference), Figures(ratios)


class CountingProxy(FaultProxy):
    """The fault proxy, also counting the bytes forwarded to the server per connection."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        # Keyed by the socket itself (kept alive here): the id of a closed one would be reused.
        self.per_connection: dict[socket.socket, int] = {}  # in the order connections first sent

    def _throttled_send(self, target: socket.socket, data: bytes) -> None:
        with contextlib.suppress(OSError):
            if target.getpeername()[1] == self.upstream[1]:
                self.per_connection[target] = self.per_connection.get(target, 0) + len(data)
        super()._throttled_send(target, data)

    def connection_bytes(self) -> list[int]:
        return list(self.per_connection.values())


def cut_once(connection: int, after: int) -> Callable[[], int | None]:
    """A ``cut_after`` for the proxy: reset the n-th new connection after ``after`` bytes."""
    numbers = itertools.count(1)
    return lambda: after if next(numbers) == connection else None


@dataclass(frozen=True)
class Resent:
    cut_into_body: int  # bytes of the cut PATCH's chunk that reached the server before the cut
    file_bytes: int  # file bytes sent twice
    header_bytes: int  # HTTP headers of the requests an uncut upload does not make
    wire_bytes: int  # all upstream bytes beyond an uncut upload of the same size
    failed: bool  # the first uploader did see the cut
    sha256: str


CUT_PATCH = 5  # the proxy cuts this PATCH (connection 1 is the creation POST)


def resent_after_cut(port: int, headers: dict[str, str], recordings: Recordings, into_body: int) -> Resent:
    """Upload once uncut, then again with PATCH number CUT_PATCH reset after ``into_body``
    bytes of its chunk; a new uploader resumes from the stored URL, as the kiosk does."""
    endpoint = "/api/kiosk/v1/uploads"
    with CountingProxy(port) as proxy:
        recording = recordings.new()
        tus_upload(proxy.url + endpoint, recording, headers)
        uncut = proxy.counters.upstream_bytes
        patch_header = proxy.connection_bytes()[CUT_PATCH] - CHUNK_SIZE
        recording.path.unlink()

    with CountingProxy(port) as proxy:
        recording = recordings.new()
        proxy.faults.cut_after = cut_once(connection=CUT_PATCH + 1, after=patch_header + into_body)
        upload = KioskUpload(proxy.url + endpoint, recording, headers)
        failed = False
        try:
            upload.send()
        except TusCommunicationError:
            failed = True
        upload.send()  # a new uploader with the stored URL: HEAD, then the rest
        wire = proxy.counters.upstream_bytes - uncut
        # The HEAD that asked for the offset: the one request after the creation without a body.
        head = min(proxy.connection_bytes()[1:])
        recording.path.unlink()
    return Resent(into_body, wire - patch_header - head, patch_header + head, wire, failed, recording.sha256)


# --- sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedKiosk:
    token: str
    session_uuid: str
    body: dict[str, Any]


def tap_session(version_id: int, questions: list[tuple[int, str, list[str]]], number: int) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(minutes=3)
    answers = [
        {
            "uuid": str(uuid.uuid4()),
            "question_id": question_id,
            "kind": kind,
            "value": options[(number + position) % len(options)],
            "media_sha256": None,
            "answered_at": (started + timedelta(seconds=20 * (position + 1))).isoformat(),
        }
        for position, (question_id, kind, options) in enumerate(questions)
    ]
    return {
        "questionnaire_version_id": version_id,
        "language": "nl",
        "consent": False,
        "consent_version": "2026-1",
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(minutes=2)).isoformat(),
        "answers": answers,
    }


async def send_sessions(
    sessions: str, kiosks: list[SimulatedKiosk], concurrency: int
) -> tuple[float, list[Any]]:
    """Every kiosk PUTs its session on its own connection; all start together (at most
    ``concurrency`` in flight). Returns the wall time and (status or error, seconds) per kiosk."""
    semaphore = asyncio.Semaphore(concurrency)
    go = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)  # no connection shared by two kiosks
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one(kiosk: SimulatedKiosk) -> tuple[int | str, float]:
            await go.wait()
            async with semaphore:
                started = time.perf_counter()
                try:
                    async with http.put(
                        f"{sessions}/{kiosk.session_uuid}",
                        json=kiosk.body,
                        headers={"Authorization": f"Bearer {kiosk.token}"},
                    ) as response:
                        await response.read()
                        status: int | str = response.status
                except (aiohttp.ClientError, TimeoutError) as error:
                    status = type(error).__name__
                return status, time.perf_counter() - started

        tasks = [asyncio.create_task(one(kiosk)) for kiosk in kiosks]
        await asyncio.sleep(0.2)  # every task waits at the gate
        started = time.perf_counter()
        go.set()
        results = await asyncio.gather(*tasks)
        return time.perf_counter() - started, list(results)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def session_pass(sessions: str, kiosks: list[SimulatedKiosk], concurrency: int) -> dict[str, Any]:
    """``sessions``: the URL the session uuids go under."""
    wall, results = asyncio.run(send_sessions(sessions, kiosks, concurrency))
    latencies = [seconds * 1000 for _, seconds in results]
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "rate": len(kiosks) / wall,
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "max": max(latencies),
        "statuses": statuses,
    }


# --- the run -------------------------------------------------------------------------------------


def prepare_database(url: str, media_root: Path) -> tuple[list[str], int, list[tuple[int, str, list[str]]]]:
    """Migrate, seed the demo, add one uploading kiosk and KIOSKS more; returns their tokens."""
    app = create_app(
        {
            "ENVIRON": {"VERTELPAAL_ENV": "development"},
            "SQLALCHEMY_DATABASE_URI": url,
            "MEDIA_ROOT": str(media_root),
        }
    )
    with app.app_context():
        upgrade()
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--days", "2"])
    if result.exit_code != 0:
        raise RuntimeError(f"demo seed failed:\n{result.output}")
    with app.app_context():
        branches = db.session.scalars(select(Branch).order_by(Branch.id)).all()
        tokens = [new_token() for _ in range(KIOSKS + 1)]
        db.session.add_all(
            Kiosk(name=f"Bench {n}", branch_id=branches[n % len(branches)].id, token_hash=hash_secret(token))
            for n, token in enumerate(tokens)
        )
        db.session.commit()
        questionnaire = db.session.scalar(select(Questionnaire).where(Questionnaire.name == QUESTIONNAIRE))
        assert questionnaire is not None, f"the demo has no questionnaire {QUESTIONNAIRE!r}"
        version = questionnaire.current_version
        taps = [
            (q.id, q.kind.value, [o.value for o in q.options])
            for q in version.questions
            if q.kind in (QuestionKind.SCALE, QuestionKind.CHOICE)
        ]
        version_id = version.id
        db.engine.dispose()
    return tokens, version_id, taps


def make_floor_table(url: str) -> None:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute("CREATE TABLE floor_sessions (uuid uuid PRIMARY KEY, body jsonb NOT NULL)")


def count_in_database(url: str, media_root: Path, uuids: list[str], media: list[str]) -> tuple[int, int]:
    app = create_app(
        {
            "ENVIRON": {"VERTELPAAL_ENV": "development"},
            "SQLALCHEMY_DATABASE_URI": url,
            "MEDIA_ROOT": str(media_root),
        }
    )
    with app.app_context():
        sessions = db.session.scalar(select(func.count()).select_from(Session).where(Session.uuid.in_(uuids)))
        stored = db.session.scalar(select(func.count()).select_from(Media).where(Media.sha256.in_(media)))
        db.engine.dispose()
    return int(sessions or 0), int(stored or 0)


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER BUDGET"


def main() -> int:
    with ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="vertelpaal-bench-sync-"))
        if not os.environ.get("BENCH_KEEP"):  # BENCH_KEEP=1 keeps the servers' logs to look at
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        logs = folder / "logs"
        logs.mkdir()
        media_root = folder / "media"
        plain_dir = folder / "plain"
        node_dir = folder / "node"
        plain_dir.mkdir()
        node_dir.mkdir()
        floor_dir = folder / "floor"
        floor_dir.mkdir()

        recordings = Recordings(folder)
        database = stack.enter_context(throwaway_cluster())
        tokens, version_id, taps = prepare_database(database, media_root)
        upload_headers = {"Authorization": f"Bearer {tokens[0]}"}

        env = {
            **os.environ,
            "VERTELPAAL_ENV": "production",
            "SECRET_KEY": "bench-" + new_token(),
            "DATABASE_URL": database,
            "MEDIA_ROOT": str(media_root),
            "KIOSK_SEALING_KEY_FILE": str(folder / "kiosk-sealing.key"),
            "PLAIN_PUT_DIR": str(plain_dir),
            "FLOOR_DIR": str(floor_dir),
        }
        admin_port = stack.enter_context(gunicorn("admin:create_app()", logs / "admin.log", env))
        make_floor_table(database)
        floor_port = stack.enter_context(
            gunicorn("floors:application", logs / "floors.log", env, "--pythonpath", str(BENCH))
        )
        floor = f"http://127.0.0.1:{floor_port}"
        plain_port = stack.enter_context(
            gunicorn("plain_put:application", logs / "plain.log", env, "--pythonpath", str(BENCH))
        )
        node_port = stack.enter_context(node_reference_server(node_dir, logs / "node.log"))
        admin = f"http://127.0.0.1:{admin_port}"
        endpoint = "/api/kiosk/v1/uploads"
        uploaded: list[str] = []

        def ours(base: str, chunk_size: int = CHUNK_SIZE) -> Callable[[Recording], object]:
            def upload(recording: Recording) -> None:
                uploaded.append(recording.sha256)
                tus_upload(base + endpoint, recording, upload_headers, chunk_size)

            return upload

        def node(recording: Recording, chunk_size: int = CHUNK_SIZE) -> None:
            tus_upload(f"http://127.0.0.1:{node_port}/files", recording, {}, chunk_size)

        def floor_tus(recording: Recording) -> None:
            tus_upload(f"{floor}/files", recording, {})

        # Warm the servers up (imports, connection pools), as a running server would be.
        for action in (ours(admin), node, floor_tus):
            recording = recordings.new()
            action(recording)
            recording.path.unlink()

        # 1. through a 20 Mbit/s link
        with FaultProxy(admin_port) as to_admin, FaultProxy(plain_port) as to_plain:
            to_admin.faults.rate_bytes_per_second = LINK_RATE
            to_plain.faults.rate_bytes_per_second = LINK_RATE
            linked = compare(
                ours(to_admin.url),
                lambda recording: plain_put(f"{to_plain.url}/answer.mp4", recording.path),
                recordings,
                LINK_ROUNDS,
            )

        # 2. bare loopback, beside @tus/server
        loopback = compare(ours(admin), node, recordings, LOOPBACK_ROUNDS)
        # Not the kiosk's setting: how much of the gap is a cost per request rather than per byte.
        loopback_big = compare(
            ours(admin, BIG_CHUNK),
            lambda recording: node(recording, BIG_CHUNK),
            recordings,
            LOOPBACK_ROUNDS,
        )
        # The floor: the mandatory work alone (bench/floors.py), beside the same reference.
        loopback_floor = compare(floor_tus, node, recordings, LOOPBACK_ROUNDS)

        # 3. one cut mid-chunk, and one a byte before the chunk's end (the worst case)
        resent = [
            (label, resent_after_cut(admin_port, upload_headers, recordings, into_body))
            for label, into_body in (
                ("cut mid-chunk", int(CHUNK_SIZE * 0.6)),
                ("cut 1 byte before the chunk's end", CHUNK_SIZE - 1),
            )
        ]
        uploaded += [figures.sha256 for _, figures in resent]

        # 4. 500 kiosks: all at once, then the same again; then with at most POOL in flight
        passes = []
        sent: list[str] = []
        for label, concurrency in (("all at once", KIOSKS), (f"at most {POOL} in flight", POOL)):
            kiosks = [
                SimulatedKiosk(token, str(uuid.uuid4()), tap_session(version_id, taps, n))
                for n, token in enumerate(tokens[1:])
            ]
            sent += [kiosk.session_uuid for kiosk in kiosks]
            sessions = f"{admin}/api/kiosk/v1/sessions"
            passes.append((f"{label}: new", session_pass(sessions, kiosks, concurrency)))
            passes.append((f"{label}: resent", session_pass(sessions, kiosks, concurrency)))
        # The floors, all at once with the same bodies: what the stack costs before our work.
        floor_passes = [
            (label, session_pass(f"{floor}/{path}", kiosks, KIOSKS))
            for label, path in (
                ("HTTP only (read, 201)", "empty"),
                ("+ one INSERT, committed", "insert"),
            )
        ]
        stored, media_stored = count_in_database(database, media_root, sent, uploaded)
        lost = len(sent) - stored

    # --- the table -------------------------------------------------------------------------
    size = recordings.size
    chunk = f"{CHUNK_SIZE:,} bytes ({CHUNK_SIZE / 1024 / 1024:g} MiB)"
    link = f"{LINK_BITS_PER_SECOND / 1e6:g} Mbit/s ({LINK_RATE / MB:.2f} MB/s)"
    print(
        f"recording {size:,} bytes ({size / MB:.1f} MB, 720p H.264); tuspy {tuspy_version()}, chunk {chunk}, "
        f"upload_checksum=True (sha1)\nadmin: gunicorn gthread (deploy/gunicorn.conf.py) + PostgreSQL "
        f"on {os.cpu_count()} cores shared with everything else; MB = 10^6 bytes; "
        "median (min–max) of the rounds"
    )
    reference = ("@tus/server + @tus/file-store", "@tus/server")
    rows = (
        (
            f"1. through the fault proxy throttled to {link}, {LINK_ROUNDS} rounds",
            linked,
            ("plain HTTP PUT (one request)", "plain PUT"),
            0.9,
        ),
        (f"2. bare loopback, {LOOPBACK_ROUNDS} rounds", loopback, reference, 1.0),
        (
            f"2b. the same with {BIG_CHUNK // 2**20} MiB chunks (diagnostic, not the kiosk's setting)",
            loopback_big,
            reference,
            None,
        ),
        (
            "2c. floor: only the mandatory work (bench/floors.py: checksum, fsync, whole sha256, video "
            "opened; no Flask, database or token), same client and chunk",
            loopback_floor,
            reference,
            None,
        ),
    )
    for title, (mine, theirs, ratio), (name, short), budget in rows:
        print(f"\n{title}")
        floor_row = title.startswith("2c")
        ours_name = "the floor (tuspy)" if floor_row else "our tus endpoint (tuspy)"
        print(f"   {ours_name:30} {mine.median:7.2f} MB/s  ({mine.spread()})")
        print(f"   {name:30} {theirs.median:7.2f} MB/s  ({theirs.spread()})")
        print(
            f"   {('ratio floor / ' if floor_row else 'ratio ours / ') + short:30} {ratio.median:7.2f}x      "
            f"({ratio.spread()})"
            + (f"   budget ≥ {budget:g}x: {verdict(ratio.median >= budget)}" if budget else "")
        )
    print(f"\n3. bytes sent again after one cut connection (PATCH {CUT_PATCH} reset), chunk {chunk}")
    print(f"   {'':36} {'file bytes resent':>17} {'+ headers':>10} {'= wire bytes':>13}")
    for label, figures in resent:
        ok = figures.failed and figures.file_bytes <= CHUNK_SIZE
        print(
            f"   {label:36} {figures.file_bytes:17,} {figures.header_bytes:10,} {figures.wire_bytes:13,}"
            f"   {figures.file_bytes / CHUNK_SIZE:.2f} chunk; budget ≤ 1 chunk: {verdict(ok)}"
        )
    print(
        "   (wire bytes: all the proxy forwarded beyond an uncut upload of the same size; headers: the cut"
        " PATCH's and the HEAD's)"
    )
    print(f"   {len(uploaded)} uploads to our endpoint, {media_stored} stored as Media, sha256 checked")
    print(
        f"\n4. {KIOSKS} kiosks, each with its own token and connection, PUT one tap session "
        f"({len(taps)} answers)"
    )
    for label, figures in passes:
        print(
            f"   {label:30} {figures['rate']:5.0f} sessions/s  p50 {figures['p50']:5.0f} ms  "
            f"p95 {figures['p95']:5.0f} ms  max {figures['max']:5.0f} ms  {figures['statuses']}"
            f"  p95 ≤ 300 ms: {verdict(figures['p95'] <= 300)}"
        )
    print(
        "   floors, all at once (bench/floors.py under the same gunicorn settings, same client and bodies):"
    )
    for label, figures in floor_passes:
        print(
            f"   {label:30} {figures['rate']:5.0f} sessions/s  p50 {figures['p50']:5.0f} ms  "
            f"p95 {figures['p95']:5.0f} ms  max {figures['max']:5.0f} ms  {figures['statuses']}"
        )
    over_floor = passes[0][1]["p95"] / floor_passes[1][1]["p95"]
    print(f"   ours all at once, p95 over the INSERT floor's p95: {over_floor:.1f}x")
    print(
        f"   lost (sent, not in the database afterwards): {lost} of {len(sent)}"
        f"   budget 0: {verdict(lost == 0)}"
    )
    return 0 if lost == 0 and media_stored == len(uploaded) else 1


if __name__ == "__main__":
    sys.exit(main())
