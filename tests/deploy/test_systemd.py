"""systemd-analyze verify on every unit and timer the roles write, and the plain files in deploy/."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, Deployment, tool

pytestmark = pytest.mark.deploy

UNIT_SUFFIXES = (".service", ".timer", ".mount")
EXEC = re.compile(r"^Exec(?:Start|StartPre|StartPost|Reload|Stop|StopPost)=[-@:+!]*(\S+)", re.MULTILINE)


def units_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in UNIT_SUFFIXES)


def verify_root(units: list[Path], workdir: Path) -> Path:
    """A root folder for `systemd-analyze verify --root`: the host's own units (targets, sockets),
    the units under test, and a stub for every program they start.

    Why stubs: verify checks that each Exec*= program exists inside the root and is executable. The
    programs of system packages (cage, chromium, /bin/kill, ...) are not installed on the test
    machine, and a virtualenv's python is a symlink to an interpreter outside the root. So for the
    verify step only, every program is a stub script; the programs the roles install themselves are
    checked for real in test_exec_programs_the_roles_install_exist.
    """
    root = workdir / "verify-root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    target = root / "etc/systemd/system"
    target.mkdir(parents=True)
    for unit in units:
        shutil.copy(unit, target / unit.name)
        for program in EXEC.findall(unit.read_text()):
            stub = root / program.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return root


def run_verify(units: list[Path], workdir: Path) -> None:
    analyze = tool("systemd-analyze", "Debian systemd")
    root = verify_root(units, workdir)
    paths = [str(root / "etc/systemd/system" / unit.name) for unit in units]
    result = subprocess.run(
        [analyze, "verify", f"--root={root}", *paths], capture_output=True, text=True, timeout=120
    )
    # verify reports unknown keys and bad values only as warnings (exit code 0): none are allowed.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert not result.stdout.strip(), result.stdout


def test_verify_kiosk_units(deployment: Deployment, tmp_path: Path) -> None:
    for host in ("kiosk-roden", "kiosk-example"):
        root = deployment.root(host)
        units = units_in(root / "etc/systemd/system")
        names = {unit.name for unit in units}
        assert {"vertelpaal-kiosk.service", "vertelpaal-sync.service", "vertelpaal-browser.service"} <= names
        run_verify(units, tmp_path / host)
    assert (deployment.root("kiosk-example") / "etc/systemd/system/var-lib-vertelpaal.mount").exists()


def test_verify_admin_units_and_timers(deployment: Deployment, tmp_path: Path) -> None:
    root = deployment.root("admin-example")
    units = units_in(root / "etc/systemd/system")
    assert {unit.name for unit in units} == {
        "vertelpaal-admin.service",
        "vertelpaal-retention.service",
        "vertelpaal-retention.timer",
        "vertelpaal-backup.service",
        "vertelpaal-backup.timer",
        "vertelpaal-worker.service",
    }
    run_verify(units, tmp_path)


def test_verify_plain_unit_files(tmp_path: Path) -> None:
    run_verify(units_in(DEPLOY / "systemd"), tmp_path)


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above would notice a mistake (verify itself only warns)."""
    broken = tmp_path / "units" / "broken.service"
    broken.parent.mkdir()
    broken.write_text("[Service]\nExecStart=/bin/true\nProtectSystem=strikt\n")
    with pytest.raises(AssertionError, match="strikt"):
        run_verify([broken], tmp_path / "work")


def test_exec_programs_the_roles_install_exist(deployment: Deployment) -> None:
    for host in ("kiosk-roden", "admin-example"):
        root = deployment.root(host)
        for unit in units_in(root / "etc/systemd/system"):
            for program in EXEC.findall(unit.read_text()):
                if program.startswith("/opt/vertelpaal/") and "/bin/rq" not in program:
                    path = root / program.lstrip("/")
                    assert path.exists() and os.access(path, os.X_OK), f"{unit.name}: {program} missing"


def same(a: Path, b: Path) -> bool:
    return b.is_file() and filecmp.cmp(a, b, shallow=False)


def test_plain_files_are_rendered_from_the_templates(deployment: Deployment) -> None:
    """deploy/systemd and deploy/nginx are what the roles write (deploy/render-plain-files.sh)."""
    kiosk = deployment.root("kiosk-example") / "etc"
    admin = deployment.root("admin-example") / "etc"
    expected = {
        **{unit.name: unit for unit in units_in(kiosk / "systemd/system")},
        **{unit.name: unit for unit in units_in(admin / "systemd/system")},
        "system.conf.d/vertelpaal-watchdog.conf": kiosk / "systemd/system.conf.d/vertelpaal-watchdog.conf",
        "journald.conf.d/vertelpaal.conf": kiosk / "systemd/journald.conf.d/vertelpaal.conf",
    }
    plain = {unit.name for unit in units_in(DEPLOY / "systemd")}
    assert plain == {name for name in expected if "/" not in name}, "run deploy/render-plain-files.sh"
    stale = [
        name for name, path in expected.items() if not filecmp.cmp(path, DEPLOY / "systemd" / name, False)
    ]
    nginx = admin / "nginx/sites-available/vertelpaal.conf"
    if not same(nginx, DEPLOY / "nginx/vertelpaal.conf"):
        stale.append("nginx/vertelpaal.conf")
    assert not stale, f"stale plain files {stale}: run deploy/render-plain-files.sh"
