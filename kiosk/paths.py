"""Where the sync service keeps its state in the kiosk's data folder (the kiosk page reads it too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SyncPaths:
    root: Path

    @property
    def token(self) -> Path:
        return self.root / "sync" / "token"

    @property
    def enrollment(self) -> Path:
        return self.root / "sync" / "enrollment.json"

    @property
    def config(self) -> Path:
        return self.root / "sync" / "config.json"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def hardware(self) -> Path:
        return self.root / "hardware.json"

    @property
    def recorder_profile(self) -> Path:
        """The recorder profile in use, written by the kiosk service at start (kiosk.hardware.profiles)."""
        return self.root / "recorder-profile.json"
