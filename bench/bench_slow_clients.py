"""Kiosk sessions while 300 slow clients hold connections open (#13, hole 2).

Real processes on 127.0.0.1: gunicorn with ``deploy/gunicorn.conf.py`` (SQLite, demo data, one
enrolled kiosk) and nginx with the shipped site ``deploy/nginx/vertelpaal.conf``, with only its
ports, certificate (self-signed, made here by openssl), upstream and media folder replaced. For
``SECONDS`` each, ``SENDERS`` kiosks PUT one tap session after another (each on its own
keep-alive connection): requests per second and p50/p95 latency, first without slow clients, then
with 300 of them (100 idle, 140 sending headers a byte a second, 60 sending tus PATCH bodies a
byte a second), and the ratio of the two. The same again straight to gunicorn, without nginx,
and with only 300 idle connections or 12 slow senders: how much gunicorn alone holds.
Run from the repository root: ``python bench/bench_slow_clients.py``.
"""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support, when run as a script

from tests.support.live_admin import (  # noqa: E402
    API,
    LiveAdmin,
    SlowClients,
    session_body,
    start_live_admin,
)
from tests.support.net import free_port  # noqa: E402

SECONDS = 10.0
SENDERS = 4
SLOW_IDLE, SLOW_HEADERS, SLOW_BODIES = 100, 140, 60
SERVER_NAME = "vertelpaal.bibliotheek.example"
METADATA = ",".join(
    f"{key} {base64.b64encode(value.encode()).decode()}"
    for key, value in {"filetype": "video/mp4", "sha256": "ab" * 32}.items()
)


@contextmanager
def nginx_in_front(folder: Path, upstream_port: int) -> Iterator[tuple[int, Path]]:
    """The shipped site on a free https port; yields that port and the certificate."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    https_port, http_port = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    key, certificate = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "2", "-subj", f"/CN={SERVER_NAME}"),
            *("-addext", f"subjectAltName=DNS:{SERVER_NAME},IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
    )
    site = (ROOT / "deploy/nginx/vertelpaal.conf").read_text()
    for shipped, here in (
        ("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        (f"/etc/letsencrypt/live/{SERVER_NAME}/fullchain.pem", str(certificate)),
        (f"/etc/letsencrypt/live/{SERVER_NAME}/privkey.pem", str(key)),
        ("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream_port}"),
        ("/srv/vertelpaal/media", str(folder / "media")),
    ):
        site = site.replace(shipped, here)
    (folder / "site.conf").write_text(site)
    (folder / "nginx.conf").write_text(
        f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + "events { worker_connections 768; }\n"  # Debian's default
        + f"http {{ access_log off; client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
        + f"fastcgi_temp_path {folder}/f; uwsgi_temp_path {folder}/u; scgi_temp_path {folder}/s;\n"
        + f"include {folder}/site.conf; }}\n"
    )
    process = subprocess.Popen(
        [
            nginx,
            "-c",
            str(folder / "nginx.conf"),
            "-p",
            str(folder),
            "-e",
            str(folder / "error.log"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"https://127.0.0.1:{https_port}/login", verify=str(certificate), timeout=2)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "error.log").read_text()) from None
                time.sleep(0.1)
        yield https_port, certificate
    finally:
        process.terminate()
        process.wait(10)


def sessions(base: str, admin: LiveAdmin, verify: str | bool) -> tuple[float, float, float, int]:
    """``SENDERS`` kiosks sending sessions for ``SECONDS``: per second, p50 and p95 ms, failures."""
    latencies: list[float] = []
    failures = [0]
    stop = time.monotonic() + SECONDS
    lock = threading.Lock()

    def sender() -> None:
        http = requests.Session()
        http.verify = verify
        http.trust_env = False
        http.headers.update(admin.kiosk_headers)
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                answer = http.put(
                    f"{base}{API}/sessions/{uuid.uuid4()}", json=session_body(admin.questionnaire), timeout=30
                )
                ok = answer.status_code == 201
            except requests.RequestException:
                ok = False
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failures[0] += 1

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    if not latencies:
        return 0.0, float("nan"), float("nan"), failures[0]
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    return len(latencies) / elapsed, statistics.median(latencies), p95, failures[0]


def uploads(base: str, admin: LiveAdmin, verify: str | bool, count: int) -> list[str]:
    paths = []
    for _ in range(count):
        created = requests.post(
            f"{base}{API}/uploads",
            verify=verify,
            timeout=10,
            headers={
                **admin.kiosk_headers,
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "200000",
                "Upload-Metadata": METADATA,
            },
        )
        created.raise_for_status()
        paths.append(created.headers["Location"].removeprefix(base))
    return paths


def slow_clients(
    port: int, base: str, admin: LiveAdmin, verify: str | bool, tls: ssl.SSLContext | None
) -> SlowClients:
    return SlowClients(
        port,
        idle=SLOW_IDLE,
        headers=SLOW_HEADERS,
        bodies=SLOW_BODIES,
        body_paths=uploads(base, admin, verify, SLOW_BODIES),
        extra_headers=(
            f"Authorization: Bearer {admin.token}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
        ),
        tls=tls,
        host=SERVER_NAME,
    )


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="vertelpaal-bench-slow-"))
    port = free_port()
    admin = start_live_admin(folder, port)
    rows: list[tuple[str, tuple[float, float, float, int]]] = []
    try:
        with nginx_in_front(folder / "nginx", port) as (https_port, certificate):
            base, verify = f"https://127.0.0.1:{https_port}", str(certificate)
            tls = ssl.create_default_context(cafile=verify)
            rows.append(("nginx + gunicorn", sessions(base, admin, verify)))
            with slow_clients(https_port, base, admin, verify, tls):
                time.sleep(2)
                rows.append(("nginx + gunicorn, 300 slow", sessions(base, admin, verify)))
        direct = admin.server.url
        rows.append(("gunicorn alone", sessions(direct, admin, False)))
        with slow_clients(port, direct, admin, False, None):
            time.sleep(2)
            rows.append(("gunicorn alone, 300 slow", sessions(direct, admin, False)))
        # What gunicorn holds by itself: idle connections wait without a thread; a slow sender
        # holds one of workers × threads (16) until its deadline.
        time.sleep(12)  # the slow senders above are cut off by their deadlines
        with SlowClients(port, idle=SLOW_IDLE + SLOW_HEADERS + SLOW_BODIES):
            time.sleep(2)
            rows.append(("gunicorn alone, 300 idle", sessions(direct, admin, False)))
        with SlowClients(port, headers=12):
            time.sleep(2)
            rows.append(("gunicorn alone, 12 slow headers", sessions(direct, admin, False)))
    finally:
        admin.stop()
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"PUT /sessions, {SENDERS} kiosks for {SECONDS:.0f} s each; 300 slow = {SLOW_IDLE} idle, "
        f"{SLOW_HEADERS} slow headers, {SLOW_BODIES} slow tus bodies"
    )
    print(f"{'where':30} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'failed':>7} {'per s / without':>16}")
    for index, (name, (rate, p50, p95, failed)) in enumerate(rows):
        baseline = rows[0 if index < 2 else 2][1][0]
        print(f"{name:30} {rate:8.1f} {p50:8.1f} {p95:8.1f} {failed:7d} {rate / baseline:15.2f}x")


if __name__ == "__main__":
    main()
