"""A real admin server for the limit and slow-client tests and bench/bench_slow_clients.py:
gunicorn with ``deploy/gunicorn.conf.py`` on SQLite with the demo data, one enrolled kiosk, and
clients that misbehave the way the issue's attacker did (all on 127.0.0.1)."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.admin.test_kiosk_api import session_body
from tests.e2e.stack import AdminServer, admin_env, flask

__all__ = ["session_body"]

API = "/api/kiosk/v1"
STAFF = "roden@vertelpaal.example"  # the demo's staff account for Roden (no two-step sign-in)
DEMO_PASSWORD = "vertelpaal-demo"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class LiveAdmin:
    server: AdminServer
    token: str
    questionnaire: dict[str, Any]

    @property
    def kiosk_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        self.server.stop()


def start_live_admin(folder: Path, port: int, **environment: str) -> LiveAdmin:
    """Migrated and seeded SQLite, gunicorn on ``port`` (production's worker and thread counts
    unless ``environment`` says otherwise), and a kiosk of Roden with its token."""
    env = admin_env(f"sqlite:///{folder / 'admin.sqlite3'}", folder / "media")
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS"):
        env.pop(name)
    # Every request here comes from 127.0.0.1: the per-address limit must not be what answers.
    env.update({"KIOSK_RATE_LIMIT_PER_ADDRESS": "100000 per minute", **environment})
    flask(env, "db", "upgrade")
    flask(env, "demo", "seed", "--days", "1")
    server = AdminServer(port, env, folder / "gunicorn.log").start()
    try:
        token = enrolled_token(server)
        config = requests.get(
            f"{server.url}{API}/config", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        questionnaire = next(q for q in config.json()["questionnaires"] if q["activity"] is None)
    except BaseException:
        server.stop()
        raise
    return LiveAdmin(server, token, questionnaire)


def enrolled_token(server: AdminServer, branch: str = "Roden") -> str:
    """The token of a new kiosk, enrolled through the API and approved with the CLI."""
    api = f"{server.url}{API}"
    enrollment = requests.post(f"{api}/enrollments", json={}, timeout=10).json()
    flask(server.env, "kiosks", "approve", enrollment["pairing_code"], "--branch", branch)
    token: str = requests.get(
        f"{api}/enrollments/{enrollment['id']}",
        timeout=10,
        headers={"X-Enrollment-Secret": enrollment["secret"]},
    ).json()["token"]
    return token


def signed_in(base: str, verify: str | bool = True, host: str | None = None) -> requests.Session:
    """A staff member of Roden, signed in through the sign-in form."""
    staff = requests.Session()
    staff.verify = verify
    staff.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment beats ``verify``
    if host:
        staff.headers["Host"] = host
    # Over https the CSRF check wants a Referer of this site, as the app sees it behind nginx: the
    # Host nginx passes on ($host) has no port.
    staff.headers["Referer"] = f"{urlsplit(base).scheme}://{urlsplit(base).hostname}/login"
    page = staff.get(f"{base}/login", timeout=10)
    found = _CSRF.search(page.text)
    assert found, page.text[:500]
    answer = staff.post(
        f"{base}/login",
        data={"email": STAFF, "password": DEMO_PASSWORD, "csrf_token": found.group(1)},
        timeout=10,
    )
    assert answer.status_code == 200 and "/login" not in answer.url, answer.text[:500]
    return staff


@dataclass
class SlowClients:
    """Connections that hold a server's attention: ``idle`` ones send nothing, ``headers`` ones
    send a request's headers a byte a second, ``bodies`` ones send whole headers and then their
    body a byte a second (to ``body_paths``, in turn). With ``tls``, every connection but the
    idle ones does its TLS handshake first, as a browser would."""

    port: int
    idle: int = 0
    headers: int = 0
    bodies: int = 0
    body_paths: list[str] = field(default_factory=lambda: [f"{API}/sessions/{uuid.uuid4()}"])
    extra_headers: str = ""
    tls: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    _sockets: list[socket.socket] = field(default_factory=list)
    _dribbling: list[tuple[socket.socket, bytes]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    dropped: int = 0  # connections the server closed while they dribbled

    def _connect(self, handshake: bool) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if handshake and self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        self._sockets.append(sock)
        return sock

    def open(self) -> SlowClients:
        for _ in range(self.idle):
            self._connect(handshake=False)
        for n in range(self.headers):
            head = f"GET /login?slow={n} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: slow\r\n"
            self._dribbling.append((self._connect(handshake=True), head.encode() * 50))
        for n in range(self.bodies):
            path = self.body_paths[n % len(self.body_paths)]
            head = (
                f"{'PATCH' if '/uploads/' in path else 'PUT'} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"{self.extra_headers}Content-Length: 100000\r\n\r\n"
            )
            sock = self._connect(handshake=True)
            sock.sendall(head.encode() + b"x")
            self._dribbling.append((sock, b"x" * 99_999))
        self._thread = threading.Thread(target=self._dribble, daemon=True)
        self._thread.start()
        return self

    def _dribble(self) -> None:
        position = 0
        while not self._stop.wait(1.0):
            position += 1
            for sock, rest in list(self._dribbling):
                try:
                    sock.sendall(rest[position : position + 1])
                except OSError:
                    self._dribbling.remove((sock, rest))
                    self.dropped += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> SlowClients:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result
