"""A child process's share of the CPU: one core, with or without a quota (a slow computer).

The quota is a cgroup: v2 ``cpu.max`` where the cpu controller is there, else v1
``cpu.cfs_quota_us``. The group also gets a large weight against the other work on a shared
machine, so that "one full core" is nearly that. Where no cgroup can be written, busy loops pinned
to the same core leave the child about a quarter (only that quota can be modelled so).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PERIOD_US = 100_000
CORE = 0  # the one core the child is pinned to


@contextmanager
def cpu_share(quota: float | None) -> Iterator[tuple[str, Callable[[], None]]]:
    """A child's CPU: at most ``quota`` cores (None: no limit), and a large weight against the
    other work on this shared machine, so that "one full core" is nearly that. Yields how it
    is done and what the child runs before anything else."""
    v2, v1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")
    group, how = Path(), ""
    settings: dict[str, str] = {}
    if "cpu" in (_read(v2 / "cgroup.subtree_control") or "").split():
        group = v2 / f"vertelpaal-bench-{os.getpid()}"
        limit = f"{round(quota * PERIOD_US)} {PERIOD_US}" if quota else "max"
        settings = {"cpu.weight": "10000", "cpu.max": limit}
        how = f"cgroup v2 cpu.max = {quota:g} core" if quota else "cgroup v2, no quota"
    elif (v1 / "cpu.cfs_quota_us").exists():
        group = v1 / f"vertelpaal-bench-{os.getpid()}"
        settings = {
            "cpu.shares": "65536",
            "cpu.cfs_period_us": str(PERIOD_US),
            "cpu.cfs_quota_us": str(round(quota * PERIOD_US)) if quota else "-1",
        }
        how = f"cgroup v1 cpu.cfs_quota_us = {quota:g} core" if quota else "cgroup v1, no quota"
    try:
        if settings:
            group.mkdir()
            for name, value in settings.items():
                (group / name).write_text(value)
    except OSError:  # a read-only /sys/fs/cgroup, as in many containers
        if group.exists():
            group.rmdir()
        settings = {}
    if settings:
        procs = group / "cgroup.procs"
        try:
            yield how, lambda: procs.write_text(str(os.getpid()))
        finally:
            for _ in range(50):  # the child has only just left it
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        return
    # No cgroup to write: busy loops on the child's core leave it its share (three: a quarter).
    count = round(1 / quota) - 1 if quota else 0
    burners = [
        subprocess.Popen(
            [sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{CORE}}})\nwhile True: pass"]
        )
        for _ in range(count)
    ]
    try:
        yield (f"{count} busy loops on the same core" if quota else "no limit"), lambda: None
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None
