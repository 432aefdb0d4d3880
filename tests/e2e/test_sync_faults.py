"""Sync over a bad network, end to end: real processes, real faults, every answer exactly once.

The admin runs under gunicorn on PostgreSQL, the kiosk's sync service is
``python -m kiosk sync``, and our fault-injecting proxy (``tests/support/faultproxy.py``) sits
between them on 127.0.0.1. The kiosk's outbox is filled as the kiosk service fills it (the sync
service reads it at the same time, as in production): five visitors' sessions with tap answers
and two video and two voice recordings of 1–3 MB, each with different content.

Faults: connections cut at random byte offsets, a stall, a spell of refused connections,
``kill -9`` of the sync service in the middle of an upload, and ``kill -9`` of gunicorn (master
and workers) in the middle of an upload. After recovery the server must hold every session and
every answer exactly once, every recording byte-identical (sha256 of the file in MEDIA_ROOT),
and the kiosk must be empty. The bytes the proxy forwarded to the server are compared with a
fault-free run of the same data: the excess must be at most one upload chunk (plus request
headers) per interruption.

Each fault runs over seeded random choices; ``VERTELPAAL_SOAK_SEEDS=50`` repeats every fault
test over 50 seeds (default: 3 seeds for the cuts, 1 for the others).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import mediaseal
from kiosk import showdoc
from kiosk.config import load as load_kiosk_config
from kiosk.outbox import Outbox
from tests.e2e.stack import (
    AdminServer,
    Expected,
    Postgres,
    Recording,
    SyncProcess,
    admin_env,
    assert_stored_exactly_once,
    fill_outbox,
    flask,
    kiosk_toml,
    make_recordings,
    partial_uploads,
    server_report,
    tail,
    wait_until,
    wait_until_sent,
)
from tests.support.faultproxy import Counters, FaultProxy
from tests.support.net import free_port

pytestmark = pytest.mark.postgres

CHUNK_KB = 128
CHUNK = CHUNK_KB * 1024
SOAK_SEEDS = int(os.environ.get("VERTELPAAL_SOAK_SEEDS", "0") or 0)
CUT_SEEDS = list(range(SOAK_SEEDS or 3))
SEEDS = list(range(SOAK_SEEDS or 1))
RECOVERY_SECONDS = 90.0
# A link slow enough that an upload chunk is on the wire when a process is killed (3 MB/s).
SLOW_LINK = 3_000_000.0
# Byte counts of two runs with the same data still differ by a few digits (uptime in the
# heartbeat, free disk space): this much is noise, not resending.
SLACK = 512


# --- once per module: a migrated, seeded database with an enrolled kiosk ----------------------


@dataclass
class Template:
    pg: Postgres
    database: str
    media_root: Path
    kiosk_data: Path
    kiosk_id: int
    questionnaire: dict[str, Any]
    recordings: list[Recording]


@pytest.fixture(scope="module")
def template(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """``db upgrade`` and ``demo seed`` once, then the kiosk enrolls through its pairing code.

    Every test then starts from a copy: ``CREATE DATABASE … TEMPLATE``, the media folder and the
    kiosk's token, configuration and question cache.
    """
    folder = tmp_path_factory.mktemp("e2e-template")
    pg = Postgres(postgres_url)
    database = f"e2e_template_{uuid.uuid4().hex[:8]}"
    url = pg.create(database)
    media_root = folder / "media"
    env = admin_env(url, media_root)
    flask(env, "db", "upgrade")
    flask(env, "demo", "seed", "--days", "1")

    server = AdminServer(free_port(), env, folder / "gunicorn.log").start()
    kiosk_data = folder / "kiosk"
    config_path = kiosk_toml(folder / "kiosk.toml", kiosk_data, server.url, CHUNK_KB)
    sync = SyncProcess(config_path, folder / "sync.log").start()
    try:
        enrollment = kiosk_data / "sync" / "enrollment.json"
        wait_until(lambda: enrollment.is_file() or not sync.alive(), "the pairing code", 60, log=sync.log)
        assert sync.alive(), tail(sync.log)
        code = json.loads(enrollment.read_text())["pairing_code"]
        approved = flask(env, "kiosks", "approve", code, "--branch", "Roden")
        kiosk_id = int(approved.split()[1])  # "Kiosk 7 (…) enrolled in Roden."
        synced = kiosk_data / "sync" / "config.json"
        wait_until(synced.is_file, "the kiosk's configuration", 60, log=sync.log)
    finally:
        sync.stop()
        server.stop()
    document = json.loads(synced.read_text())
    config = load_kiosk_config(config_path)
    questionnaire = showdoc.build(config)["questionnaire"]
    general = [q for q in document["questionnaires"] if q["activity"] is None]
    assert general and questionnaire["id"] == str(general[0]["id"]), "the general questionnaire"
    assert questionnaire["version"] == general[0]["version_id"]
    for leftover in ("outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm", "recordings"):
        path = kiosk_data / leftover
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    recordings = make_recordings(folder / "recordings")
    yield Template(pg, database, media_root, kiosk_data, kiosk_id, questionnaire, recordings)
    pg.drop(database)


# --- one run: a fresh copy of everything, the proxy in between ----------------------------------


@dataclass
class Run:
    name: str
    template: Template
    folder: Path
    database: str
    database_url: str
    media_root: Path
    server: AdminServer
    proxy: FaultProxy
    sync: SyncProcess
    outbox: Outbox
    recordings_dir: Path
    expected: Expected = field(default_factory=Expected)
    started: float = field(default_factory=time.monotonic)
    synced_at: float = 0.0

    def seconds(self) -> str:
        """Where the time went: making the copy and starting gunicorn, then the sync itself."""
        setup = self.synced_at - self.started if self.synced_at else 0.0
        return f"setup {setup:.1f} s, sync {time.monotonic() - (self.synced_at or self.started):.1f} s"

    def fill(self, seal_to: bytes | None = None) -> None:
        self.expected = fill_outbox(
            self.outbox, self.template.questionnaire, self.template.recordings, seal_to=seal_to
        )

    def start_sync(self) -> None:
        """Count from here: the proxy's counters start again at zero."""
        self.proxy.counters = Counters()
        self.synced_at = time.monotonic()
        self.sync.start()

    def wait_sent(self) -> None:
        wait_until_sent(self.outbox, self.recordings_dir, self.sync, RECOVERY_SECONDS)
        self.wait_quiet()

    def wait_quiet(self, quiet: float = 1.0) -> None:
        """Until nothing moved for a second: the last heartbeats are part of the run."""
        last, since = (-1, -1), time.monotonic()
        deadline = since + 20
        while time.monotonic() < deadline:
            now = (self.proxy.counters.upstream_bytes, self.proxy.counters.downstream_bytes)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.1)
        raise AssertionError("the sync service never went quiet")

    @property
    def upstream(self) -> int:
        return self.proxy.counters.upstream_bytes

    def pending_recordings(self) -> int:
        with self.outbox.transaction(write=False) as db:
            return int(db.execute("SELECT count(*) FROM recordings WHERE uploaded_at IS NULL").fetchone()[0])

    def wait_mid_upload(self, rng: random.Random) -> str:
        """Until a randomly chosen recording is part-way uploaded; says where it stopped."""
        recordings = self.template.recordings
        skip = rng.randrange(len(recordings))  # this many uploads finish before the fault
        smallest = min(r.size for r in recordings)
        target = rng.randint(1, smallest // CHUNK - 1) * CHUNK

        def mid_way() -> bool:
            assert self.outbox.sessions(), "the uploads finished before the fault could strike"
            done = len(recordings) - self.pending_recordings()
            return done >= skip and any(size >= target for size in partial_uploads(self.media_root))

        wait_until(mid_way, f"an upload past {target} bytes", 60, poll=0.005, log=self.sync.log)
        # The next chunk is on its way now (the link is slow): strike at a random byte of it.
        into = rng.randint(1, CHUNK // 2)  # the proxy counts in blocks of up to 64 KiB
        start = self.upstream
        wait_until(lambda: self.upstream - start >= into or not self.outbox.sessions(), "a chunk", 30, 0.002)
        return f"upload #{skip + 1}, {target // CHUNK} chunks + ~{(self.upstream - start) // 1024} KiB"

    def check(self, abandoned_uploads: int = 0) -> None:
        """Exactly once, byte-identical, and nothing left on the kiosk.

        An upload is abandoned (left to expire on the server) only when the answer to its
        creation was lost, so there are never more of them than connections cut.
        """
        assert self.outbox.sessions() == []
        assert list(self.recordings_dir.iterdir()) == []
        began = time.monotonic()
        report = server_report(self.database_url, self.media_root, self.template.kiosk_id, self.expected)
        assert_stored_exactly_once(report, self.expected)
        assert report["unfinished_uploads"] <= abandoned_uploads, report
        print(f"[{self.name}] server checked in {time.monotonic() - began:.1f} s")


@contextmanager
def fresh_run(template: Template, folder: Path, name: str, sealed: bool = False) -> Iterator[Run]:
    began = time.monotonic()
    database = f"e2e_{name}_{uuid.uuid4().hex[:6]}".replace("-", "_")
    url = template.pg.create(database, template=template.database)
    media_root = folder / "media"
    shutil.copytree(template.media_root, media_root)
    kiosk_data = folder / "kiosk"
    shutil.copytree(template.kiosk_data, kiosk_data)
    # The server's sealing keys go with its database and media (admin_env: beside the media).
    shutil.copy2(template.media_root.parent / "kiosk-sealing.key", folder / "kiosk-sealing.key")
    server = AdminServer(free_port(), admin_env(url, media_root), folder / "gunicorn.log")
    proxy = FaultProxy(server.port).start()
    config = kiosk_toml(folder / "kiosk.toml", kiosk_data, proxy.url, CHUNK_KB)
    sync = SyncProcess(config, folder / "sync.log")
    kiosk_config = load_kiosk_config(config)
    outbox = Outbox(kiosk_config.outbox_path, kiosk_config.recordings_dir)
    run = Run(
        name,
        template,
        folder,
        database,
        url,
        media_root,
        server,
        proxy,
        sync,
        outbox,
        kiosk_config.recordings_dir,
        started=began,
    )
    try:
        server.start()
        synced = json.loads((kiosk_data / "sync" / "config.json").read_text())
        run.fill(seal_to=mediaseal.decode_key(synced["sealing_key"]["public_key"]) if sealed else None)
        yield run
    except BaseException:
        print(f"--- sync log ---\n{tail(sync.log)}\n--- gunicorn log ---\n{tail(server.log, 3000)}")
        raise
    finally:
        ended = time.monotonic()
        sync.stop()
        proxy.close()
        server.stop()
        outbox.close()
        template.pg.drop(database)
        print(f"[{name}] teardown {time.monotonic() - ended:.1f} s")


# --- the fault-free baseline and the resend budget ------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    upstream: int
    requests: int
    payload: int

    @property
    def per_request(self) -> int:
        """Measured bytes per request beyond the recordings: headers, session and heartbeat bodies."""
        return math.ceil((self.upstream - self.payload) / self.requests)


@pytest.fixture(scope="module")
def baseline(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    """The same data through the same proxy without any fault."""
    with fresh_run(template, tmp_path_factory.mktemp("baseline"), "baseline") as run:
        run.start_sync()
        run.wait_sent()
        run.check()
        assert run.sync.failed_rounds() == 0, tail(run.sync.log)
        assert run.proxy.counters.cuts == 0
        upstream = run.upstream
    recordings = template.recordings
    patches = sum(math.ceil(r.size / CHUNK) for r in recordings)
    # POST + PATCHes per recording, a PUT per session (five), GET /config and two heartbeats.
    requests = len(recordings) + patches + 5 + 3
    return Baseline(upstream, requests, sum(r.size for r in recordings))


def assert_resend_within_budget(
    run: Run, baseline: Baseline, interruptions: int, what: str, restarts: int = 0
) -> str:
    """Bytes sent again ≤ one chunk plus request headers per interruption.

    Every round that failed (the service logs each one) costs its requests again: the cut one,
    and the next round's GET /config and tus HEAD; a restarted sync service asks for its
    configuration and sends its heartbeats once more.
    """
    failed = run.sync.failed_rounds()
    excess = run.upstream - baseline.upstream
    round_cost = 3 * baseline.per_request
    allowed = interruptions * (CHUNK + baseline.per_request) + (failed + restarts) * round_cost + SLACK
    figures = (
        f"[{run.name}] {what}: upstream {run.upstream} B vs baseline {baseline.upstream} B, "
        f"excess {excess} B = {excess / CHUNK:.2f} chunks; interruptions {interruptions}, "
        f"cuts {run.proxy.counters.cuts}, failed rounds {failed}, restarts {restarts}, allowed {allowed} B; "
        f"{run.seconds()}"
    )
    print(figures)
    assert excess <= allowed, figures
    assert excess >= -SLACK, f"fewer bytes than the fault-free run? {figures}"
    return figures


def test_a_fault_free_run_stores_everything_once(template: Template, baseline: Baseline) -> None:
    total = sum(r.size for r in template.recordings)
    print(
        f"[baseline] {len(template.recordings)} recordings, {total} B; upstream {baseline.upstream} B; "
        f"{baseline.requests} requests, {baseline.per_request} B each beyond the recordings"
    )
    assert total <= baseline.upstream <= total + baseline.requests * 4096


# --- faults --------------------------------------------------------------------------------------


def random_cuts(rng: random.Random, max_cuts: int, probability: float = 0.15) -> Callable[[], int | None]:
    """Cut some new connections: now in a request's headers, now somewhere in an upload chunk."""
    left = [max_cuts]

    def cut_after() -> int | None:
        if left[0] <= 0 or rng.random() >= probability:
            return None
        left[0] -= 1
        return rng.randint(1, 2048) if rng.random() < 0.25 else rng.randint(1, CHUNK + 1024)

    return cut_after


@pytest.mark.parametrize("seed", CUT_SEEDS)
def test_connections_cut_at_random_offsets(
    template: Template, baseline: Baseline, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with fresh_run(template, tmp_path, f"cut{seed}") as run:
        run.proxy.faults.cut_after = random_cuts(rng, max_cuts=8)
        run.start_sync()
        run.wait_sent()
        cuts = run.proxy.counters.cuts
        run.check(abandoned_uploads=cuts)
        assert cuts > 0, "the seed cut nothing: choose a higher probability"
        assert_resend_within_budget(run, baseline, cuts, f"seed {seed}")


@pytest.mark.parametrize("seed", SEEDS)
def test_a_stalled_link_recovers_without_resending(
    template: Template, baseline: Baseline, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with fresh_run(template, tmp_path, f"stall{seed}") as run:
        run.proxy.faults.rate_bytes_per_second = SLOW_LINK
        run.start_sync()
        where = run.wait_mid_upload(rng)
        run.proxy.faults.stall = True
        seconds = rng.uniform(2.0, 4.0)  # shorter than the kiosk's request timeout
        time.sleep(seconds)
        run.proxy.faults.stall = False
        run.wait_sent()
        run.check()
        assert_resend_within_budget(run, baseline, 1, f"seed {seed}, stalled {seconds:.1f} s at {where}")


@pytest.mark.parametrize("seed", SEEDS)
def test_refused_connections_are_retried_with_backoff(
    template: Template, baseline: Baseline, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with fresh_run(template, tmp_path, f"refuse{seed}") as run:
        run.proxy.faults.rate_bytes_per_second = SLOW_LINK
        run.start_sync()
        where = run.wait_mid_upload(rng)
        run.proxy.faults.refuse = True
        seconds = rng.uniform(2.0, 4.0)
        time.sleep(seconds)
        run.proxy.faults.refuse = False
        run.wait_sent()
        run.check()
        # The service noticed and tried again, waiting (at most max_backoff_seconds) in between.
        assert run.sync.failed_rounds() >= 1, tail(run.sync.log)
        assert "next try in" in tail(run.sync.log, 10**9)
        assert_resend_within_budget(run, baseline, 1, f"seed {seed}, refused {seconds:.1f} s at {where}")


@pytest.mark.parametrize("seed", SEEDS)
def test_the_sync_service_killed_mid_upload_resumes(
    template: Template, baseline: Baseline, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with fresh_run(template, tmp_path, f"killsync{seed}") as run:
        run.proxy.faults.rate_bytes_per_second = SLOW_LINK
        run.start_sync()
        where = run.wait_mid_upload(rng)
        run.sync.kill()
        time.sleep(rng.uniform(0.0, 1.0))
        run.sync.start()
        run.wait_sent()
        run.check()
        assert_resend_within_budget(run, baseline, 1, f"seed {seed}, kill -9 at {where}", restarts=1)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_server_killed_mid_upload_resumes(
    template: Template, baseline: Baseline, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with fresh_run(template, tmp_path, f"killserver{seed}") as run:
        run.proxy.faults.rate_bytes_per_second = SLOW_LINK
        run.start_sync()
        where = run.wait_mid_upload(rng)
        run.server.kill()
        time.sleep(rng.uniform(0.5, 2.0))
        run.server.start()  # the same port, the same database and media folder
        run.wait_sent()
        run.check()
        assert_resend_within_budget(run, baseline, 1, f"seed {seed}, gunicorn kill -9 at {where}")


@pytest.mark.parametrize("seed", SEEDS)
def test_sealed_recordings_arrive_whole_through_cut_connections(
    template: Template, tmp_path: Path, seed: int
) -> None:
    """An enrolled kiosk's recordings are sealed on its disk; through cuts, the server opens each
    one and stores exactly the recording inside, once."""
    rng = random.Random(1000 + seed)
    with fresh_run(template, tmp_path, f"sealed{seed}", sealed=True) as run:
        files = list(run.recordings_dir.iterdir())
        assert len(files) == len(template.recordings)
        assert all(mediaseal.file_is_sealed(path) for path in files)
        run.proxy.faults.cut_after = random_cuts(rng, max_cuts=6, probability=0.25)
        run.start_sync()
        run.wait_sent()
        cuts = run.proxy.counters.cuts
        run.check(abandoned_uploads=cuts)
        assert cuts > 0, "the seed cut nothing: choose a higher probability"
        assert not list((run.media_root / "uploads").glob("*.plain.part")), "an opened copy was left behind"
