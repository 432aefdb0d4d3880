"""An enrolled kiosk without a server: the synced configuration the sync service would leave behind,
with a sealing key, so the kiosk service seals what it records (for tests and benchmarks that need no
admin server)."""

from __future__ import annotations

import json
from pathlib import Path

from nacl.public import PrivateKey

import mediaseal
from kiosk.paths import SyncPaths


def write_synced_config(data_dir: Path) -> PrivateKey:
    """Write ``sync/config.json`` (one empty questionnaire, the public key) and return the private key."""
    server = PrivateKey.generate()
    public = bytes(server.public_key)
    synced = {
        "kiosk": {"id": 1, "name": "test"},
        "branch": {"id": 1, "name": "Roden"},
        "consent_version": "test",
        "sealing_key": {"id": mediaseal.key_id(public).hex(), "public_key": mediaseal.encode_key(public)},
        "languages": ["nl"],
        "questionnaires": [{"id": 1, "version_id": 1, "name": "test", "activity": None, "questions": []}],
        "media": [],
    }
    config = SyncPaths(data_dir).config
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(synced))
    return server
