"""A throwaway PostgreSQL cluster from Debian's binaries, for the tests and the benchmarks.

``initdb`` refuses to run as root, so as root the cluster is made and run as user ``postgres``.
Durability is switched off (``fsync=off`` …): the cluster is thrown away afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.support.net import free_port


def postgres_bin() -> Path:
    """Debian's newest installed PostgreSQL server binaries."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else Path("/usr/lib/postgresql/missing/bin")


@contextmanager
def throwaway_cluster(extra_options: str = "") -> Iterator[str]:
    """Start a new cluster on 127.0.0.1; yields its SQLAlchemy URL; stops and deletes it after.

    ``extra_options`` are more ``-c name=value`` settings for the server (e.g. max_connections).
    """
    pg_bin = postgres_bin()
    if not (pg_bin / "initdb").exists():
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    base = Path(tempfile.mkdtemp(prefix="vertelpaal-pg-"))
    data, sockets = base / "data", base / "run"
    sockets.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    try:
        subprocess.run(
            [
                *as_postgres,
                str(pg_bin / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *as_postgres,
                str(pg_bin / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(base / "log"),
                "-o",
                f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off {extra_options}".strip(),
                "start",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*as_postgres, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)


class Postgres:
    """Databases in the throwaway cluster of the ``postgres_url`` fixture."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def _execute(self, statement: str) -> None:
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def create(self, name: str, template: str | None = None) -> str:
        statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        deadline = time.monotonic() + 15
        while True:
            try:
                self._execute(statement)
                return self.url_of(name)
            except psycopg.errors.ObjectInUse:
                # A server that just stopped may still have a backend on the template for a moment.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
