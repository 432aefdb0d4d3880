"""`make bench`: run every bench_*.py here and print their tables one after another.

Each benchmark is a script that prints its own figures beside their budgets and baselines; this
runner only collects them, so a benchmark can also be run alone.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    failures = 0
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], cwd=here.parent)
        print(f"({time.monotonic() - started:.0f} s)", flush=True)
        failures += result.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
