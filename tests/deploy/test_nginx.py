"""The nginx site the admin role writes: `nginx -t`, then a real nginx on 127.0.0.1 in front of a
stand-in for the app, to see TLS, the upload limit and media through X-Accel-Redirect work."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.deploy.conftest import (
    VERSION_OLD,
    Deployment,
    free_port,
    live_site_folders,
    playbook_command,
    tool,
)

MEDIA_CSP = "default-src 'none'; object-src 'none'; frame-ancestors 'none'; sandbox"

pytestmark = pytest.mark.deploy

SERVER_NAME = "vertelpaal.test"


@dataclass
class Site:
    conf: Path  # the site file the role wrote
    prefix: Path  # nginx's prefix folder with a minimal nginx.conf that includes the site
    nginx_conf: Path
    https_port: int
    http_port: int
    upstream_port: int
    media: Path
    certificate: Path


@pytest.fixture(scope="module")
def site(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The admin role's nginx site for the host admin-live, rendered with --tags vertelpaal_files
    (only the checks and the files), with a self-signed certificate made here by openssl.

    Each module renders into its own root and live folders: the deployment is shared by every
    worker, and a module in another worker may be serving its own site at the same time."""
    live = tmp_path_factory.mktemp("live")
    root = live / "root"
    folders = live_site_folders(live)
    # Ports picked just before use (nginx listens on all addresses of this machine, at these ports).
    http_port, https_port, upstream_port = free_port(), free_port(), free_port()
    variables = {
        "vertelpaal_root": str(root),
        **folders,
        "admin_nginx_http_port": http_port,
        "admin_nginx_https_port": https_port,
        "admin_gunicorn_bind": f"127.0.0.1:{upstream_port}",
    }
    result = subprocess.run(
        [
            *playbook_command(deployment, VERSION_OLD),
            *("--limit", "admin-live", "--tags", "vertelpaal_files"),
            *("-e", json.dumps(variables)),
        ],
        capture_output=True,
        text=True,
        env=deployment.env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    conf = root / "etc/nginx/sites-available/vertelpaal.conf"
    assert conf.is_file()

    certificate = Path(folders["admin_tls_certificate"])
    certificate.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            tool("openssl", "Debian openssl"),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={SERVER_NAME}",
            "-addext",
            f"subjectAltName=DNS:{SERVER_NAME},IP:127.0.0.1",
            "-keyout",
            folders["admin_tls_certificate_key"],
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    prefix = live / "nginx"
    prefix.mkdir()
    nginx_conf = prefix / "nginx.conf"
    # A minimal main configuration (Debian's /etc/nginx/nginx.conf plays this part on the server):
    # everything nginx writes stays in the prefix folder.
    nginx_conf.write_text(
        f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 768; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ video/mp4 mp4; }}
    default_type application/octet-stream;
    include {conf};
}}
"""
    )
    return Site(
        conf=conf,
        prefix=prefix,
        nginx_conf=nginx_conf,
        https_port=https_port,
        http_port=http_port,
        upstream_port=upstream_port,
        media=Path(folders["admin_media_root"]),
        certificate=certificate,
    )


def nginx_command(site: Site, *args: str) -> list[str]:
    nginx = tool("nginx", "Debian nginx-light (or nginx)")
    return [
        nginx,
        "-c",
        str(site.nginx_conf),
        "-p",
        str(site.prefix),
        "-e",
        str(site.prefix / "error.log"),
        *args,
    ]


def test_nginx_accepts_the_site(site: Site) -> None:
    result = subprocess.run(nginx_command(site, "-t"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
    text = site.conf.read_text()
    assert "client_max_body_size 200m;" in text
    assert f"alias {site.media}/;" in text and "internal;" in text


class StandIn(BaseHTTPRequestHandler):
    """Plays the app: for /media/<sha256> it checks nothing and answers with X-Accel-Redirect."""

    seen: list[dict[str, str]] = []
    content_types: dict[str, str] = {}  # sha256 → type, when not a video

    def do_GET(self) -> None:
        StandIn.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path.startswith("/media/"):
            sha = self.path.rsplit("/", 1)[1]
            self.send_response(200)
            self.send_header("X-Accel-Redirect", f"/protected-media/{sha[:2]}/{sha[2:4]}/{sha}")
            self.send_header("Content-Type", StandIn.content_types.get(sha, "video/mp4"))
            self.send_header("Cache-Control", "private, max-age=3600")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"the app"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def running(site: Site) -> Iterator[Site]:
    app = ThreadingHTTPServer(("127.0.0.1", site.upstream_port), StandIn)
    thread = threading.Thread(target=app.serve_forever, daemon=True)
    thread.start()
    try:
        with start_nginx(site):
            yield site
    finally:
        app.shutdown()
        app.server_close()


@contextmanager
def start_nginx(site: Site) -> Iterator[Site]:
    """nginx with the site, in the foreground, until the block ends."""
    nginx = subprocess.Popen(
        nginx_command(site, "-g", "daemon off;"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", site.http_port), timeout=1):
                    break
            except OSError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    output = nginx.stdout.read().decode() if nginx.stdout else ""
                    raise AssertionError(f"nginx did not start: {output}") from None
                time.sleep(0.05)
        yield site
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        if nginx.stdout:
            nginx.stdout.close()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def fetch(site: Site, path: str, headers: dict[str, str] | None = None, *, tls: bool = True) -> Answer:
    if tls:
        context = ssl.create_default_context(cafile=str(site.certificate))
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", site.https_port, context=context, timeout=10
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": SERVER_NAME, **(headers or {})})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def store(site: Site, content: bytes) -> str:
    """Puts a file in the media folder as the app's store does; returns its sha256."""
    sha = hashlib.sha256(content).hexdigest()
    stored = site.media / sha[:2] / sha[2:4] / sha
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(content)
    return sha


def test_media_is_served_by_nginx_after_the_app_answers(running: Site) -> None:
    content = os.urandom(300_000)
    sha = store(running, content)

    response = fetch(running, f"/media/{sha}")
    assert response.status == 200
    assert response.body == content
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Accel-Redirect"] is None
    # A script in a stored SVG must not run with the staff member's session (#13).
    assert response.headers["Content-Security-Policy"] == MEDIA_CSP

    partial = fetch(running, f"/media/{sha}", {"Range": "bytes=1000-1999"})
    assert partial.status == 206
    assert partial.body == content[1000:2000]

    # The internal location is not reachable from outside.
    assert fetch(running, f"/protected-media/{sha[:2]}/{sha[2:4]}/{sha}").status == 404


def test_requests_reach_the_app_with_forwarded_headers(running: Site) -> None:
    StandIn.seen.clear()
    response = fetch(running, "/kiosks")
    assert response.status == 200 and response.body == b"the app"
    assert response.headers["Strict-Transport-Security"]
    request = StandIn.seen[-1]
    assert request["path"] == "/kiosks"
    assert request["x-forwarded-proto"] == "https"
    assert request["host"] == SERVER_NAME
    assert request["x-forwarded-for"] == "127.0.0.1"


def test_uploads_larger_than_the_limit_are_refused(running: Site) -> None:
    context = ssl.create_default_context(cafile=str(running.certificate))
    connection = http.client.HTTPSConnection("127.0.0.1", running.https_port, context=context, timeout=10)
    try:
        # Only the headers: nginx refuses by Content-Length before any of the body arrives.
        connection.putrequest("PATCH", "/api/kiosk/v1/uploads/0b8a", skip_host=True)
        connection.putheader("Host", SERVER_NAME)
        connection.putheader("Content-Type", "application/offset+octet-stream")
        connection.putheader("Content-Length", str(201 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        assert response.status == 413
    finally:
        connection.close()


def test_plain_http_moves_to_https(running: Site) -> None:
    response = fetch(running, "/responses?x=1", tls=False)
    assert response.status == 301
    assert response.headers["Location"] == f"https://{SERVER_NAME}:{running.https_port}/responses?x=1"


# Would reach the stand-in app (and so, on a real server, post forms with the staff member's session).
SCRIPTED_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"
  onload="fetch('/stolen?from=onload')">
<script>fetch('/stolen?from=script'); document.title = 'script ran';</script>
<rect width="200" height="200" fill="#036"/></svg>"""


@pytest.mark.browser
def test_a_scripted_svg_served_by_nginx_runs_nothing_in_chromium(running: Site, browser: Browser) -> None:
    """Should such an SVG ever be in the store (an older upload, a bug in the check), nginx sends it
    with a CSP under which Chromium runs none of it, even opened on its own at the server's origin."""
    sha = store(running, SCRIPTED_SVG)
    StandIn.content_types[sha] = "image/svg+xml"
    StandIn.seen.clear()
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda message: refused.append(message.text))
        response = page.goto(f"https://127.0.0.1:{running.https_port}/media/{sha}")
        assert response is not None and response.status == 200
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.headers["content-security-policy"] == MEDIA_CSP
        page.wait_for_timeout(500)  # time for a script (or its fetch) to run, were it allowed
        assert page.locator("rect").count() == 1  # the picture itself is shown
        assert page.title() != "script ran"
        assert not [r for r in StandIn.seen if r["path"].startswith("/stolen")]
        assert any("Content Security Policy" in text or "sandboxed" in text for text in refused), refused
    finally:
        context.close()
