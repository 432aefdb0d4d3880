"""Fixtures shared by the whole suite: databases, the admin app; a browser in
tests/support/browser_fixtures.py.

The suite runs on SQLite and on a real PostgreSQL. Without ``TEST_DATABASE_URL`` the tests start
a throwaway PostgreSQL cluster from Debian's binaries; with it, its role must be allowed to create
databases, as each test gets its own copy of a migrated template. With ``VERTELPAAL_REQUIRE_ALL=1`` (set by
``make test`` and CI) the run fails when any PostgreSQL, browser or audio test was skipped or did
not run at all, so a missing part can never pass silently.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2.profiles import CHEAPEST
from flask import Flask
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from admin.extensions import db
from admin.models import Branch, Role, User
from tests.admin.helpers import LIVE_APPS, PASSWORD, TOTP_SECRET
from tests.support.postgres import Postgres, throwaway_cluster

# Chromium's fixtures, which import Playwright only when a test uses them.
pytest_plugins = ["tests.support.browser_fixtures"]

REQUIRED_PARTS = ("postgres", "browser", "audio")


# --- required parts --------------------------------------------------------------------------

_part_outcomes: dict[str, dict[str, int]] = {part: {"passed": 0, "other": 0} for part in REQUIRED_PARTS}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    for part in REQUIRED_PARTS:
        if part in report.keywords:
            key = "passed" if report.outcome == "passed" and report.when == "call" else "other"
            _part_outcomes[part][key] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("VERTELPAAL_REQUIRE_ALL") != "1" or session.config.option.collectonly:
        return
    if hasattr(session.config, "workerinput"):  # a pytest-xdist worker: the controller counts every report
        return
    selected = session.config.getoption("-m") or session.config.getoption("-k")
    if selected:  # a deliberate subset: only the full run must hold every part
        return
    missing = [
        f"{part}: {counts['passed']} passed, {counts['other']} skipped or failed"
        for part, counts in _part_outcomes.items()
        if counts["passed"] == 0 or counts["other"]
    ]
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line("REQUIRED PARTS DID NOT ALL RUN: " + "; ".join(missing), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database URL: ``TEST_DATABASE_URL``, or a throwaway cluster started here."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    with throwaway_cluster() as url:
        yield url


# --- the admin app ---------------------------------------------------------------------------

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _app_config(database_url: str, directory: Path) -> dict[str, object]:
    return {
        "ENVIRON": {"VERTELPAAL_ENV": "development"},
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MEDIA_ROOT": str(directory / "media"),
        "KIOSK_SEALING_KEY_FILE": str(directory / "kiosk-sealing.key"),
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": True,
        # Nothing here guards a real password; production's cost made four fixture users take ~2 s.
        "PASSWORD_HASH_PARAMETERS": CHEAPEST,
    }


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own on each backend: a copy of one migrated once per session (per
    xdist worker), as a full Alembic upgrade for every test cost seconds each. The migrations
    themselves are exercised by tests/admin/test_migrations.py, and by every session's first copy."""
    if request.param == "sqlite":
        path = tmp_path / "admin.sqlite3"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    cluster: Postgres = request.getfixturevalue("migrated_postgres")
    name = f"test_{uuid.uuid4().hex}"
    yield cluster.create(name, template=MIGRATED_POSTGRES)
    cluster.drop(name)  # WITH (FORCE): a connection the test left open does not keep it


MIGRATED_POSTGRES = f"migrated_{os.getpid()}"  # one per xdist worker, even on a shared TEST_DATABASE_URL
_POSTGRES_TEMPLATES = [MIGRATED_POSTGRES]  # and the seeded copies of it (seed_demo), dropped at the end


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("migrated-sqlite")
    path = folder / "admin.sqlite3"
    _migrate(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """The cluster, holding the template database MIGRATED_POSTGRES that tests' databases copy."""
    cluster = Postgres(postgres_url)
    cluster.drop(MIGRATED_POSTGRES)
    # A template must have no connections while it is copied: _migrate closes its own.
    _migrate(cluster.create(MIGRATED_POSTGRES), tmp_path_factory.mktemp("migrated-postgres"))
    yield cluster
    for template in reversed(_POSTGRES_TEMPLATES):
        cluster.drop(template)


def _migrate(url: str, directory: Path) -> None:
    from flask_migrate import upgrade

    from admin import create_app

    app = create_app(_app_config(url, directory))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture
def seed_demo(app: Flask, request: pytest.FixtureRequest) -> Callable[[int], None]:
    """``seed_demo(days)``: the test's database and media become what ``demo seed --days N`` makes,
    copied from a database seeded once per session: seeding costs ~5 s, most of it checking media."""

    def seed_copy(days: int) -> None:
        kind = request.node.callspec.params["database"]
        if (kind, days) not in _SEEDED:
            _SEEDED[kind, days] = _seed_template(request, kind, days)
        seeded = _SEEDED[kind, days]
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
            url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        if seeded.cluster is None:
            shutil.copyfile(seeded.database, str(url.database))
        else:
            seeded.cluster.drop(str(url.database))
            seeded.cluster.create(str(url.database), template=seeded.database)
        shutil.copytree(seeded.media, app.config["MEDIA_ROOT"], dirs_exist_ok=True)

    return seed_copy


@dataclass(frozen=True)
class SeededTemplate:
    database: str  # SQLite: the file; PostgreSQL: the template database in ``cluster``
    media: Path
    cluster: Postgres | None = None


_SEEDED: dict[tuple[str, int], SeededTemplate] = {}  # (backend, days): made when a test first asks


def _seed_template(request: pytest.FixtureRequest, kind: str, days: int) -> SeededTemplate:
    from admin import create_app
    from admin.demo.seed import seed
    from tests.admin.helpers import MEDIA_SET

    folder = request.getfixturevalue("tmp_path_factory").mktemp(f"seeded-{kind}-{days}")
    cluster: Postgres | None = None
    if kind == "sqlite":
        template = str(folder / "admin.sqlite3")
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), template)
        url = f"sqlite:///{template}"
    else:
        cluster = request.getfixturevalue("migrated_postgres")
        template = f"{MIGRATED_POSTGRES}_seeded{days}"
        _POSTGRES_TEMPLATES.append(template)
        cluster.drop(template)
        url = cluster.create(template, template=MIGRATED_POSTGRES)
    seeding = create_app(_app_config(url, folder))
    with seeding.app_context():
        seed(MEDIA_SET, days=days)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # a template must have no connections while it is copied
    return SeededTemplate(template, Path(seeding.config["MEDIA_ROOT"]), cluster)


@pytest.fixture
def app(database: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from admin import create_app
    from admin.extensions import db

    app = create_app(_app_config(database, tmp_path))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


# --- served over HTTP --------------------------------------------------------------------


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served by a real HTTP server in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    LIVE_APPS[base] = app
    yield base
    del LIVE_APPS[base]
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


# --- factories -------------------------------------------------------------------------------


@pytest.fixture
def make_branch(app: Flask) -> Callable[..., Branch]:
    def make(name: str = "Roden") -> Branch:
        with app.app_context():
            branch = Branch(name=name)
            db.session.add(branch)
            db.session.commit()
            db.session.refresh(branch)
            db.session.expunge(branch)
            return branch

    return make


ADMINS_GET_TOTP = "<admins get TOTP_SECRET>"


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    from admin.accounts.operations import create_user

    def make(
        email: str,
        role: Role = Role.STAFF,
        branches: Sequence[str] = (),
        password: str = PASSWORD,
        locale: str = "nl",
        totp_secret: str | None = ADMINS_GET_TOTP,
    ) -> User:
        """A user; admins have two-step sign-in with TOTP_SECRET unless ``totp_secret`` says otherwise."""
        with app.app_context():
            chosen = [db.session.scalar(db.select(Branch).where(Branch.name == n)) for n in branches]
            user = create_user(email, password, role, chosen, locale=locale)
            if totp_secret is ADMINS_GET_TOTP:
                totp_secret = TOTP_SECRET if role is Role.ADMIN else None
            user.totp_secret = totp_secret
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


@pytest.fixture
def world(app: Flask, make_branch: Callable, make_user: Callable, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The hand-made library of tests/admin/review_world.py: two branches, answers to review."""
    from tests.admin.review_world import build

    return build(app, make_branch, make_user, tmp_path)
