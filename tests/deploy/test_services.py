"""The units' commands, run here with the files the roles wrote: does the admin server start from its
ExecStart, its environment file and gunicorn.conf.py, after the role's migration command; does the kiosk
serve its page from its ExecStart and the TOML the role made?

The interpreter is this test's own: the roles' virtualenvs in the test roots hold the package without
its dependencies (the tests install nothing from the network).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import ANSIBLE, Deployment, free_port

pytestmark = pytest.mark.deploy

VENV_PYTHON = "/opt/vertelpaal/current/bin/python"


def exec_start(unit: Path) -> list[str]:
    text = unit.read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def environment_file(path: Path) -> dict[str, str]:
    """KEY='value' lines, read the way systemd's EnvironmentFile= reads them."""
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return values


@contextmanager
def serving(argv: list[str], env: dict[str, str], port: int, cwd: Path) -> Iterator[str]:
    log = cwd / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{argv} did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a gthread worker sometimes lingers; the test is over
            process.kill()
            process.wait(timeout=10)


def base_env() -> dict[str, str]:
    return {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "LANG": "C.UTF-8"}


def test_admin_server_starts_from_its_unit_and_environment(deployment: Deployment, tmp_path: Path) -> None:
    root = deployment.root("admin-example")
    argv = exec_start(root / "etc/systemd/system/vertelpaal-admin.service")
    assert argv[:3] == [VENV_PYTHON, "-m", "gunicorn"]
    argv[0] = sys.executable
    # A copy: Python writes the loaded config's bytecode beside it, and the deployed roots are shared.
    config = shutil.copy(root / "etc/vertelpaal/gunicorn.conf.py", tmp_path / "gunicorn.conf.py")
    argv = [str(config) if a.startswith("/etc/") else a for a in argv]
    env = {**base_env(), **environment_file(root / "etc/vertelpaal/admin.env")}
    assert env["VERTELPAAL_ENV"] == "production"
    port = free_port()
    # Here: SQLite and a temporary media folder instead of the server's PostgreSQL socket, one
    # worker, and no Redis (none runs here; REDIS_URL would make the rate limiter look for it).
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'admin.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
    )
    env.pop("REDIS_URL")

    # The role's own migration command (tasks/migrate.yml), with this interpreter.
    tasks = yaml.safe_load((ANSIBLE / "roles/admin/tasks/migrate.yml").read_text())
    [migrate] = [task for task in tasks if task["name"].startswith("Migrate")]
    command = migrate["ansible.builtin.command"]["argv"]
    assert command[0] == "{{ admin_venv }}/bin/python"
    migrated = subprocess.run(
        [sys.executable, *command[1:]], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "Running upgrade" in migrated.stderr  # what the task's changed_when looks for

    with serving(argv, env, port, tmp_path) as url:
        with urllib.request.urlopen(f"{url}/login", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{url}/api/kiosk/v1/openapi.json", timeout=10) as response:
            assert response.status == 200


def test_kiosk_serves_its_page_from_its_unit_and_toml(deployment: Deployment, tmp_path: Path) -> None:
    root = deployment.root("kiosk-roden")
    argv = exec_start(root / "etc/systemd/system/vertelpaal-kiosk.service")
    assert argv == [VENV_PYTHON, "-m", "kiosk", "run", "--config", "/etc/vertelpaal/kiosk.toml"]
    settings = tomllib.loads((root / "etc/vertelpaal/kiosk.toml").read_text())
    # The role's TOML with its folders inside the test root and a free port.
    port = free_port()
    lines = []
    for line in (root / "etc/vertelpaal/kiosk.toml").read_text().splitlines():
        if line.startswith("data_dir ="):
            line = f'data_dir = "{tmp_path / "data"}"'
        elif line.startswith("question_set ="):
            line = f'question_set = "{root / settings["question_set"].lstrip("/")}"'
        elif line.startswith("port ="):
            line = f"port = {port}"
        lines.append(line)
    config = tmp_path / "kiosk.toml"
    config.write_text("\n".join(lines) + "\n")
    command = [sys.executable, *argv[1:5], str(config)]
    with serving(command, base_env(), port, tmp_path) as url, urllib.request.urlopen(f"{url}/") as response:
        assert response.status == 200
        assert b"<html" in response.read().lower()
    assert (tmp_path / "data" / "outbox.sqlite3").exists()
