"""The Ansible roles: lint, a real run into temporary roots, idempotence, update and rollback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from kiosk import config as kiosk_config
from tests.deploy.conftest import (
    ANSIBLE,
    LOCK_PROBE,
    REPO,
    VERSION_NEW,
    VERSION_OLD,
    Deployment,
    ansible_env,
    installed_version,
    tool,
    tree_digest,
)

pytestmark = pytest.mark.deploy


def test_ansible_lint_production_profile_passes(tmp_path: Path) -> None:
    lint = tool("ansible-lint", "PyPI ansible-lint (dev extra)")
    result = subprocess.run(
        [lint, "--offline", "--profile", "production", "-c", str(ANSIBLE / ".ansible-lint"), str(ANSIBLE)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(tmp_path),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_example_inventory_groups_kiosks_by_branch(tmp_path: Path) -> None:
    inventory = tool("ansible-inventory", "PyPI ansible-core (dev extra)")
    result = subprocess.run(
        [inventory, "-i", str(ANSIBLE / "inventory.example"), "--list", "--export"],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    branches = [group for group in listing["kiosks"]["children"] if group.startswith("branch_")]
    assert {"branch_roden", "branch_norg", "branch_peize", "branch_borger"} <= set(branches)
    assert listing["admin"]["hosts"]
    assert listing["branch_roden"]["hosts"]
    # group_vars per branch
    branch_vars = ANSIBLE / "inventory.example/group_vars/branch_roden.yml"
    assert "kiosk_branch: Roden" in branch_vars.read_text()


def test_a_short_secret_key_stops_the_run_clearly(deployment: Deployment, tmp_path: Path) -> None:
    playbook = tool("ansible-playbook", "PyPI ansible-core (dev extra)")
    result = subprocess.run(
        [
            playbook,
            "-i",
            str(deployment.base / "inventory.yml"),
            str(ANSIBLE / "site.yml"),
            "--limit",
            "admin-live",
            "-e",
            f"vertelpaal_version={VERSION_OLD}",
            "-e",
            "vertelpaal_package_source=vertelpaal",
            "-e",
            "admin_secret_key=short",
            "-e",
            f"vertelpaal_root={tmp_path / 'root'}",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path / "home"),
        timeout=120,
    )
    assert result.returncode != 0
    assert "at least 32 characters" in result.stdout
    assert not (tmp_path / "root").exists(), "nothing may be written before the variables are checked"


def test_first_run_installs_and_configures_everything(deployment: Deployment) -> None:
    first = deployment.runs["first"]
    assert set(first.recap) == {"admin-example", "kiosk-example", "kiosk-roden"}
    for host in first.recap:
        assert first.recap[host]["failed"] == 0
        assert first.recap[host]["changed"] > 0


def test_running_the_playbook_again_changes_nothing(deployment: Deployment) -> None:
    again = deployment.runs["again"]
    assert set(again.recap) == set(deployment.runs["first"].recap)
    for host, counts in again.recap.items():
        assert counts["changed"] == 0, f"{host} changed on the second run:\n{again.logs}"
    # ... and so restarts nothing: no handler was notified.
    assert again.handlers("admin") == [] and again.handlers("kiosks") == []


def test_every_virtualenv_gets_its_dependencies_from_the_lock(deployment: Deployment) -> None:
    probe = f"python*/site-packages/{LOCK_PROBE.replace('-', '_')}-1.0.dist-info"
    for host in ("kiosk-roden", "kiosk-example", "admin-example"):
        venv = (deployment.root(host) / "opt/vertelpaal/current").resolve()
        assert list((venv / "lib").glob(probe)), f"{host}: the locked dependencies were not installed"
        lock = venv.parent / f"{venv.name}.lock"
        assert f"{LOCK_PROBE}==1.0" in lock.read_text(), f"{host}: the version's lock is not kept beside it"


def test_kiosk_toml_is_made_from_the_inventory(deployment: Deployment) -> None:
    root = deployment.root("kiosk-roden")
    path = root / "etc/vertelpaal/kiosk.toml"
    raw = tomllib.loads(path.read_text("utf-8"))
    assert raw["server_url"] == "https://vertelpaal.bibliotheek.example"
    assert raw["languages"] == ["nl", "en", "de"]
    assert raw["camera"]["source"] == "picamera2"
    assert raw["microphone"]["device"] == "USB Audio"
    assert raw["timeouts"]["max_answer_seconds"] == 90
    assert raw["sync"] == {"interval_seconds": 10.0, "max_backoff_seconds": 300.0, "upload_chunk_kb": 512}
    assert raw["data_dir"] == "/var/lib/vertelpaal"
    # The kiosk itself accepts the file (with its paths inside the test root).
    raw["data_dir"] = str(root / raw["data_dir"].lstrip("/"))
    raw["question_set"] = str(root / raw["question_set"].lstrip("/"))
    config = kiosk_config.from_mapping(raw, source=str(path))
    assert config.server_url == "https://vertelpaal.bibliotheek.example"
    assert config.sync.upload_chunk_kb == 512
    assert (config.question_set / "manifest.json").read_bytes() == (REPO / "media/manifest.json").read_bytes()


def test_kiosk_software_and_folders(deployment: Deployment) -> None:
    root = deployment.root("kiosk-roden")
    assert os.readlink(root / "opt/vertelpaal/current") == f"venvs/{VERSION_OLD}"
    assert installed_version(root / "opt/vertelpaal/current") == VERSION_OLD
    assert (root / "opt/vertelpaal/current/bin/python").exists()
    assert stat.S_IMODE((root / "var/lib/vertelpaal").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "var/lib/vertelpaal-screen").stat().st_mode) == 0o700
    helper = root / "opt/vertelpaal/bin/wait-for-kiosk-page"
    assert os.access(helper, os.X_OK)
    # Console blanking off, added once.
    assert deployment.seen["first_cmdline"].count("consoleblank=0") == 1
    assert (root / "boot/firmware/cmdline.txt").read_text().count("consoleblank=0") == 1


def test_kiosk_units_restart_harden_and_log_to_the_journal(deployment: Deployment) -> None:
    units = deployment.root("kiosk-roden") / "etc/systemd/system"
    kiosk = (units / "vertelpaal-kiosk.service").read_text()
    sync = (units / "vertelpaal-sync.service").read_text()
    browser = (units / "vertelpaal-browser.service").read_text()
    for unit in (kiosk, sync, browser):
        assert "Restart=always" in unit and "RestartSec=" in unit
        for line in ("NoNewPrivileges=yes", "ProtectSystem=", "ProtectHome=yes", "PrivateTmp=yes"):
            assert line in unit
        assert "ProtectKernelTunables=yes" in unit and "LockPersonality=yes" in unit
        assert "RestrictAddressFamilies=" in unit
    assert "ProtectSystem=full" in browser and "# full, not strict:" in browser
    for unit in (kiosk, sync):
        assert "ProtectSystem=strict" in unit
        assert "ReadWritePaths=/var/lib/vertelpaal\n" in unit
        assert "StandardOutput=journal" in unit
        assert "RequiresMountsFor=/var/lib/vertelpaal" in unit
    python = "ExecStart=/opt/vertelpaal/current/bin/python"
    assert f"{python} -m kiosk run --config /etc/vertelpaal/kiosk.toml" in kiosk
    assert f"{python} -m kiosk sync --config /etc/vertelpaal/kiosk.toml" in sync
    assert "DeviceAllow=char-video4linux rw" in kiosk and "DeviceAllow=char-alsa rw" in kiosk
    assert "IPAddressDeny=any" in kiosk and "IPAddressDeny=any" in browser
    assert "MemoryDenyWriteExecute=yes" in sync
    # Where a setting is left off, the unit says why.
    assert "# MemoryDenyWriteExecute= is left off" in kiosk
    assert "MemoryDenyWriteExecute= - " in browser
    assert "User=vertelpaal-screen" in browser and "User=vertelpaal\n" in kiosk
    assert "/usr/bin/cage -d -- /usr/bin/chromium" in browser and "--kiosk" in browser
    assert "http://127.0.0.1:8080/" in browser
    system = deployment.root("kiosk-roden") / "etc/systemd"
    assert "RuntimeWatchdogSec=15" in (system / "system.conf.d/vertelpaal-watchdog.conf").read_text()
    journald = (system / "journald.conf.d/vertelpaal.conf").read_text()
    assert "SystemMaxUse=64M" in journald and "Storage=persistent" in journald
    policy = (deployment.root("kiosk-roden") / "etc/chromium/policies/managed/vertelpaal.json").read_text()
    assert '"VideoCaptureAllowed": false' in policy


def test_read_only_root_mounts_the_data_partition(deployment: Deployment) -> None:
    root = deployment.root("kiosk-example")
    mount = (root / "etc/systemd/system/var-lib-vertelpaal.mount").read_text()
    assert "What=/dev/disk/by-label/vertelpaal-data" in mount
    assert "Where=/var/lib/vertelpaal" in mount
    assert "Storage=volatile" in (root / "etc/systemd/journald.conf.d/vertelpaal.conf").read_text()
    assert not (deployment.root("kiosk-roden") / "etc/systemd/system/var-lib-vertelpaal.mount").exists()


def test_admin_environment_file_is_secret_and_complete(deployment: Deployment) -> None:
    path = deployment.root("admin-example") / "etc/vertelpaal/admin.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    values = dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    values = {key: value.strip("'") for key, value in values.items()}
    assert values["SECRET_KEY"] == deployment.hosts["admin-example"]["vertelpaal_secret_key"]
    assert values["DATABASE_URL"] == "postgresql+psycopg://vertelpaal@/vertelpaal"
    assert values["MEDIA_ROOT"] == "/srv/vertelpaal/media"
    assert values["MEDIA_ACCEL_REDIRECT"] == "/protected-media/"
    assert values["VERTELPAAL_ENV"] == "production"
    assert values["MAX_UPLOAD_MB"] == "200"
    assert values["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    # The same lines work for systemd (EnvironmentFile=) and for a shell (set -a; . admin.env).
    shell = subprocess.run(
        ["bash", "-c", f'set -a; . {path}; set +a; printf %s "$SECRET_KEY|$DATABASE_URL"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout == f"{values['SECRET_KEY']}|{values['DATABASE_URL']}"


def test_admin_units_gunicorn_timers_and_worker(deployment: Deployment) -> None:
    units = deployment.root("admin-example") / "etc/systemd/system"
    web = (units / "vertelpaal-admin.service").read_text()
    python = "ExecStart=/opt/vertelpaal/current/bin/python"
    assert f"{python} -m gunicorn --config /etc/vertelpaal/gunicorn.conf.py" in web
    assert "EnvironmentFile=/etc/vertelpaal/admin.env" in web and "Type=notify" in web
    assert "ReadWritePaths=/srv/vertelpaal/media" in web and "ProtectSystem=strict" in web
    gunicorn = deployment.root("admin-example") / "etc/vertelpaal/gunicorn.conf.py"
    assert gunicorn.read_bytes() == (REPO / "deploy/gunicorn.conf.py").read_bytes()
    retention = (units / "vertelpaal-retention.service").read_text()
    assert "-m flask --app admin retention run" in retention and "Type=oneshot" in retention
    assert "OnCalendar=*-*-* 03:30:00" in (units / "vertelpaal-retention.timer").read_text()
    backup = (units / "vertelpaal-backup.service").read_text()
    assert "ExecStart=/opt/vertelpaal/bin/vertelpaal-backup" in backup
    assert "BACKUP_DIR=/var/backups/vertelpaal KEEP_DAYS=14" in backup
    assert "Persistent=true" in (units / "vertelpaal-backup.timer").read_text()
    assert "bin/rq worker" in (units / "vertelpaal-worker.service").read_text()
    scripts = deployment.root("admin-example") / "opt/vertelpaal/bin"
    assert (scripts / "vertelpaal-backup").read_bytes() == (REPO / "deploy/backup/backup.sh").read_bytes()
    assert (scripts / "vertelpaal-restore").read_bytes() == (REPO / "deploy/backup/restore.sh").read_bytes()
    assert os.access(scripts / "vertelpaal-restore", os.X_OK)


def test_update_installs_the_new_version_and_keeps_the_outbox(deployment: Deployment) -> None:
    update = deployment.runs["update"]
    after = deployment.seen["after_update"]
    assert set(after) == set(update.recap) == {"admin-example", "kiosk-roden"}
    for host in after:
        assert after[host]["current"] == f"venvs/{VERSION_NEW}", host
        assert after[host]["version"] == VERSION_NEW, host
        assert update.recap[host]["failed"] == 0
    # keep_versions=2: the running version and the one before; the old 0.0.9 is gone.
    assert after["kiosk-roden"]["venvs"] == [VERSION_OLD, VERSION_NEW]
    assert after["kiosk-roden"]["locks"] == [f"{VERSION_OLD}.lock", f"{VERSION_NEW}.lock"]
    assert after["kiosk-roden"]["wheels"] == [
        f"vertelpaal-{VERSION_OLD}-py3-none-any.whl",
        f"vertelpaal-{VERSION_NEW}-py3-none-any.whl",
    ]
    # The services were restarted (handlers notified), because something changed.
    assert "kiosk : Restart the kiosk services" in update.handlers("kiosks")
    assert "admin : Restart the admin services" in update.handlers("admin")
    # The outbox, recordings and token are exactly as they were, through the update and the rollback
    # (and on the kiosk that was not updated).
    for host, digest in deployment.seen["outboxes"].items():
        assert tree_digest(deployment.root(host) / "var/lib/vertelpaal") == digest


def test_rollback_is_the_same_command_with_the_old_version(deployment: Deployment) -> None:
    rollback = deployment.runs["rollback"]
    assert set(rollback.recap) == {"kiosk-roden"}
    for host in rollback.recap:
        root = deployment.root(host)
        assert os.readlink(root / "opt/vertelpaal/current") == f"venvs/{VERSION_OLD}"
        assert installed_version(root / "opt/vertelpaal/current") == VERSION_OLD
        # The newer version stays, so rolling forward again is instant too.
        assert installed_version(root / f"opt/vertelpaal/venvs/{VERSION_NEW}") == VERSION_NEW
        assert rollback.recap[host]["failed"] == 0
    # The old virtualenv was still there: only the switch changed, and the services restart.
    assert "Install the package in its own virtualenv" in rollback.logs["kiosks"]
    assert "kiosk : Restart the kiosk services" in rollback.handlers("kiosks")


def test_playbook_syntax(tmp_path: Path) -> None:
    playbook = tool("ansible-playbook", "PyPI ansible-core (dev extra)")
    result = subprocess.run(
        [playbook, "-i", str(ANSIBLE / "inventory.example"), str(ANSIBLE / "site.yml"), "--syntax-check"],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
