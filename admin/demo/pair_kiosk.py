"""`make demo`: approve the demo kiosk's pairing code, as a staff member would on the Kiosks page.

python -m admin.demo.pair_kiosk KIOSK_DATA_DIR BRANCH waits for the kiosk's sync service to ask
to join (it writes its pairing code into its data folder), then enrolls it in BRANCH. A kiosk
that holds a token already is left alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from admin import create_app

WAIT_SECONDS = 120


def main(data_dir: Path, branch: str) -> int:
    sync = data_dir / "sync"
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if (sync / "token").is_file():
            print("demo: the kiosk is paired already")
            return 0
        try:
            code = json.loads((sync / "enrollment.json").read_text("utf-8"))["pairing_code"]
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(1)
            continue
        app = create_app()
        result = app.test_cli_runner().invoke(
            args=["kiosks", "approve", code, "--branch", branch, "--name", "Demokiosk"]
        )
        print(f"demo: {result.output.strip()}")
        return result.exit_code
    print(f"demo: the kiosk did not ask to pair within {WAIT_SECONDS} s (see the sync log)")
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
