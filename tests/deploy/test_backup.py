"""deploy/backup/backup.sh and restore.sh against a real PostgreSQL and a real media folder."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.deploy.conftest import DEPLOY, tool

pytestmark = [pytest.mark.deploy, pytest.mark.postgres]

BACKUP = DEPLOY / "backup/backup.sh"
RESTORE = DEPLOY / "backup/restore.sh"


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A fresh database in the throwaway cluster, with the URL the app would use."""
    for name in ("pg_dump", "pg_restore", "psql", "rsync"):
        tool(name, "Debian postgresql-client / rsync")
    server = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"vp_backup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def fill(url: str) -> None:
    with psycopg.connect(libpq(url)) as connection:
        connection.execute(
            "CREATE TABLE branch (id serial PRIMARY KEY, name text NOT NULL UNIQUE);"
            "CREATE TABLE answer (id uuid PRIMARY KEY, branch_id int REFERENCES branch(id),"
            " value text, media bytea, made timestamptz NOT NULL DEFAULT now());"
            "CREATE INDEX answer_branch ON answer (branch_id);"
            "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
            "INSERT INTO alembic_version VALUES ('0007_kiosks');"
        )
        for name in ("Roden", "Norg", "Peize", "Nieuw-Buinen"):
            connection.execute("INSERT INTO branch (name) VALUES (%s)", (name,))
        for i in range(500):
            connection.execute(
                "INSERT INTO answer (id, branch_id, value, media) VALUES (%s, %s, %s, %s)",
                (uuid.UUID(int=i + 1), i % 4 + 1, f"antwoord {i} – 😀", os.urandom(i % 7)),
            )


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(libpq(url)) as connection:
        tables = [
            row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        ]
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in sorted(tables)
        }


def media_files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def store(root: Path, content: bytes) -> Path:
    sha = hashlib.sha256(content).hexdigest()
    path = root / sha[:2] / sha[2:4] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backup_and_restore_bring_back_rows_and_files(database: str, tmp_path: Path) -> None:
    media = tmp_path / "media"
    fill(database)
    kept = [store(media, os.urandom(size)) for size in (0, 1, 4096, 250_000)]
    (media / "uploads").mkdir()
    (media / "uploads" / "3f2a.part").write_bytes(b"half an upload")
    rows, files = snapshot(database), media_files(media)
    backups = tmp_path / "backups"
    # Backups from long ago: KEEP_DAYS removes them.
    (backups / "2001-01-01T021500Z" / "media").mkdir(parents=True)
    env = {"DATABASE_URL": database, "MEDIA_ROOT": str(media), "KEEP_DAYS": "14"}

    made = run(BACKUP, env, str(backups))
    assert made.returncode == 0, made.stderr
    [backup] = sorted(p for p in backups.iterdir() if not p.name.startswith("."))
    assert "removed old backup 2001-01-01T021500Z" in made.stdout
    assert {p.name for p in backup.iterdir()} == {
        "database.dump",
        "media",
        "SHA256SUMS",
        "MEDIA_FILES",
        "INFO",
    }
    assert media_files(backup / "media") == files
    assert oct((backup / "database.dump").stat().st_mode)[-3:] == "600"

    # Disaster: rows deleted and changed, a table dropped, a newer table hanging off the old ones,
    # a media file changed, one deleted, one added.
    with psycopg.connect(libpq(database)) as connection:
        connection.execute("DELETE FROM answer WHERE branch_id = 2")
        connection.execute("UPDATE answer SET value = 'overschreven' WHERE branch_id = 3")
        connection.execute("DROP TABLE alembic_version")
        connection.execute("CREATE TABLE note (id int PRIMARY KEY, branch_id int REFERENCES branch(id))")
    kept[2].write_bytes(b"damaged")
    kept[3].unlink()
    store(media, b"made after the backup")
    assert snapshot(database) != rows and media_files(media) != files

    restored = run(RESTORE, env, "--yes", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert snapshot(database) == rows
    assert media_files(media) == files
    for path in kept:
        assert path.exists()


def test_restore_refuses_a_damaged_backup_and_changes_nothing(database: str, tmp_path: Path) -> None:
    media = tmp_path / "media"
    fill(database)
    target = store(media, os.urandom(10_000))
    env = {"DATABASE_URL": database, "MEDIA_ROOT": str(media)}
    assert run(BACKUP, env, str(tmp_path / "backups")).returncode == 0
    [backup] = list((tmp_path / "backups").iterdir())
    with psycopg.connect(libpq(database)) as connection:
        connection.execute("DELETE FROM answer")
    rows, files = snapshot(database), media_files(media)

    damaged = backup / "media" / target.relative_to(media)
    data = damaged.read_bytes()
    damaged.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # same size, other content
    refused = run(RESTORE, env, "--yes", str(backup))
    assert refused.returncode != 0
    assert "do not match their sha256 names" in refused.stderr
    assert snapshot(database) == rows and media_files(media) == files

    (backup / "database.dump").write_bytes(b"not a dump")
    assert "does not match SHA256SUMS" in run(RESTORE, env, "--yes", str(backup)).stderr


def test_restore_without_yes_asks_and_a_script_cannot_answer(database: str, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    fill(database)
    env = {"DATABASE_URL": database, "MEDIA_ROOT": str(media)}
    assert run(BACKUP, env, str(tmp_path / "backups")).returncode == 0
    [backup] = list((tmp_path / "backups").iterdir())
    refused = run(RESTORE, env, str(backup))
    assert refused.returncode != 0 and "add --yes" in refused.stderr


def test_a_failing_restore_leaves_the_database_as_it_was(database: str, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    fill(database)
    env = {"DATABASE_URL": database, "MEDIA_ROOT": str(media)}
    assert run(BACKUP, env, str(tmp_path / "backups")).returncode == 0
    [backup] = list((tmp_path / "backups").iterdir())
    with psycopg.connect(libpq(database)) as connection:
        connection.execute("DELETE FROM answer WHERE branch_id = 1")
    rows = snapshot(database)
    # A dump cut short (with a checksum that matches it): pg_restore fails half-way through.
    dump = backup / "database.dump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size * 2 // 3])
    subprocess.run(["bash", "-c", "sha256sum database.dump > SHA256SUMS"], cwd=backup, check=True)
    failed = run(RESTORE, env, "--yes", str(backup))
    assert failed.returncode != 0
    assert "the database is unchanged" in failed.stderr
    assert snapshot(database) == rows


def test_second_backup_shares_unchanged_media_by_hard_links(database: str, tmp_path: Path) -> None:
    media = tmp_path / "media"
    fill(database)
    first_file = store(media, os.urandom(100_000))
    env = {"DATABASE_URL": database, "MEDIA_ROOT": str(media)}
    backups = tmp_path / "backups"
    assert run(BACKUP, env, str(backups)).returncode == 0
    store(media, os.urandom(1000))
    # The folder name has one-second resolution.
    subprocess.run(["sleep", "1.1"], check=True)
    assert run(BACKUP, env, str(backups)).returncode == 0
    first, second = sorted(backups.iterdir())
    relative = first_file.relative_to(media)
    assert (first / "media" / relative).stat().st_ino == (second / "media" / relative).stat().st_ino
    assert len(media_files(second / "media")) == 2


def test_backup_says_what_is_missing(tmp_path: Path) -> None:
    result = run(BACKUP, {"MEDIA_ROOT": str(tmp_path)}, str(tmp_path / "b"))
    assert result.returncode != 0 and "DATABASE_URL is not set" in result.stderr
    result = run(RESTORE, {"DATABASE_URL": "postgresql://x@/y", "MEDIA_ROOT": str(tmp_path)}, str(tmp_path))
    assert result.returncode != 0 and "not a complete backup" in result.stderr
