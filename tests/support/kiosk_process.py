"""The kiosk service (and its sync service) as real processes, for tests that drive or kill them."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.outbox import Outbox, OutboxSession

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Kiosk:
    url: str
    port: int
    data_dir: Path
    config: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] = field(init=False)
    sync_process: subprocess.Popen[bytes] | None = None

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    def start(self, timeout: float = 20.0) -> None:
        self.process = self._launch("run", self.log)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"the kiosk service exited at start:\n{self.log_tail()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"the kiosk service did not listen:\n{self.log_tail()}")
            time.sleep(0.05)

    def start_sync(self) -> subprocess.Popen[bytes]:
        self.sync_process = self._launch("sync", self.log.with_name("sync.log"))
        return self.sync_process

    def kill(self) -> None:
        """kill -9: no chance to clean up, as a power cut or a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        for process in (self.process, self.sync_process):
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def _launch(self, command: str, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as log_file:
            return subprocess.Popen(
                [sys.executable, "-m", "kiosk", command, "--config", str(self.config)],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    def sessions(self) -> list[OutboxSession]:
        outbox = Outbox(self.data_dir / "outbox.sqlite3", self.recordings_dir)
        try:
            return outbox.sessions()
        finally:
            outbox.close()

    def files(self) -> list[Path]:
        return sorted(p for p in self.recordings_dir.iterdir() if p.is_file())

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


StartKiosk = Callable[..., Kiosk]
