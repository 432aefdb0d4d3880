"""The recorder profile this machine picks with one full core, and under a quarter-core quota
that models a slow computer (a Raspberry Pi 3, an old office PC busy with the page).

Each condition runs in its own child process, pinned to one core: the kiosk's own measurement
(``kiosk.hardware.profiles.recorder_profile``, as at start, nothing kept), then the chosen profile
encoding 8 s of 720p talking-head video without giving up, for its speed and file size per minute.
The quota is a cgroup (``tests/support/cpu.py``). The machine is shared, so the load average is
printed beside.

Run from the repository root: ``python bench/bench_recorder_profile.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.cpu import CORE, cpu_share  # noqa: E402

QUARTER = 0.25
SECONDS = 8.0  # of video for the chosen profile's speed and size


def child() -> None:
    from kiosk.hardware import profiles

    started = time.perf_counter()
    profile = profiles.recorder_profile(None, width=1280, height=720, fps=25.0)
    took = time.perf_counter() - started
    frames = profiles.talking_head_frames(1280, 720, 25.0)
    candidate = profiles.KNOWN[profile.name]
    full = profiles.measure(candidate, frames, 25.0, seconds=SECONDS)
    print(
        json.dumps(
            {
                "profile": profile.name,
                "size": f"{profile.width}×{profile.height}",
                "measured": profile.speed,
                "fast_enough": profile.fast_enough,
                "measure_seconds": took,
                "speed": full.speed,
                "mb_per_minute": full.bytes_per_minute / 1e6,
                "tried": profile.tried,
                "quota": profiles.cpu_quota(),
            }
        )
    )


def run_child(before: Callable[[], None]) -> dict[str, object]:
    def setup() -> None:
        os.sched_setaffinity(0, {CORE})
        before()

    result = subprocess.run(
        [sys.executable, __file__, "--child"],
        preexec_fn=setup,  # the child is limited before it measures anything
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    if parser.parse_args().child:
        child()
        return 0
    load = os.getloadavg()[0]
    rows = []
    for label, quota in (("one full core", None), ("a quarter core", QUARTER)):
        with cpu_share(quota) as (how, limit):
            rows.append((f"{label} ({how})", run_child(limit)))
    print(f"machine load average (1 min) before: {load:.1f} on {os.cpu_count()} cores")
    print(f"{'condition':<56} {'profile':<16} {'size':>9} {'speed':>8} {'MB/min':>7} {'measuring':>9}")
    for condition, row in rows:
        short = "" if row["fast_enough"] else " (short)"
        print(
            f"{condition:<56} {row['profile']:<16} {row['size']:>9} {row['speed']:>7.1f}×"
            f" {row['mb_per_minute']:>7.1f} {row['measure_seconds']:>8.1f}s{short}"
        )
    for condition, row in rows:
        tried = ", ".join(f"{name} {speed:.1f}×" for name, speed in row["tried"])  # type: ignore[attr-defined]
        print(f"  {condition}: tried {tried}")
    print("budget: the chosen profile encodes ≥ 1.5× real time with room for the page (measured ≥ 2.25×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
