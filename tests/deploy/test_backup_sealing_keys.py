"""backup.sh and restore.sh keep the kiosk sealing keys: without them, sealed recordings still on
kiosks (or half uploaded) could never be opened after a server is rebuilt."""

from __future__ import annotations

import stat
from pathlib import Path

import mediaseal
from admin import sealing
from tests.deploy import test_backup
from tests.deploy.test_backup import BACKUP, RESTORE, fill, run

database = test_backup.database  # the fixture: a fresh PostgreSQL database


def key_ids(path: Path) -> list[str]:
    return [mediaseal.key_id(bytes(k.public_key)).hex() for k in sealing.load(path).keys]


def test_the_sealing_keys_are_backed_up_and_restored_beside_newer_ones(database: str, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    fill(database)
    keys = tmp_path / "instance" / "kiosk-sealing.key"
    sealing.ensure(keys)
    sealing.rotate(keys)
    backed_up = key_ids(keys)
    env = {"DATABASE_URL": database, "MEDIA_ROOT": str(media), "KIOSK_SEALING_KEY_FILE": str(keys)}

    made = run(BACKUP, env, str(tmp_path / "backups"))
    assert made.returncode == 0, made.stderr
    [backup] = [p for p in (tmp_path / "backups").iterdir() if not p.name.startswith(".")]
    copy = backup / "kiosk-sealing.key"
    assert copy.read_bytes() == keys.read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert "kiosk-sealing.key" in (backup / "SHA256SUMS").read_text()

    # After the backup the server made a new key (kiosks seal to it now); then the disaster.
    sealing.rotate(keys)
    keys.write_text("")
    restored = run(RESTORE, env, "--yes", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert key_ids(keys) == backed_up and stat.S_IMODE(keys.stat().st_mode) == 0o600

    # A key file that survived keeps its newest key in front; the backup's keys join it.
    sealing.rotate(keys)
    newest = key_ids(keys)[0]
    assert run(RESTORE, env, "--yes", str(backup)).returncode == 0
    assert key_ids(keys) == [newest, *backed_up]

    # Without KIOSK_SEALING_KEY_FILE the keys would be silently left out: refused before anything.
    without = {k: v for k, v in env.items() if k != "KIOSK_SEALING_KEY_FILE"}
    refused = run(RESTORE, without, "--yes", str(backup))
    assert refused.returncode != 0 and "KIOSK_SEALING_KEY_FILE" in refused.stderr

    # A damaged copy of the keys is caught by the checksums; nothing is restored.
    copy.write_text(copy.read_text().replace(copy.read_text().splitlines()[-1][-5:], "AAAA="))
    before = keys.read_bytes()
    damaged = run(RESTORE, env, "--yes", str(backup))
    assert damaged.returncode != 0 and keys.read_bytes() == before
