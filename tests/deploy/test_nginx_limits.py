"""Slow and greedy clients against the shipped nginx site in front of a real gunicorn (#13, holes 2
and 3): the site the admin role renders, nginx on 127.0.0.1, and gunicorn with
deploy/gunicorn.conf.py on SQLite with the demo data behind it."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.deploy.test_nginx import SERVER_NAME, Site, nginx_command, site, start_nginx
from tests.support.live_admin import (
    API,
    LiveAdmin,
    SlowClients,
    session_body,
    signed_in,
    start_live_admin,
    timed,
)

pytestmark = pytest.mark.deploy

__all__ = ["site"]  # the module-scoped fixture, rendered again for this module

SLOW_IDLE, SLOW_HEADERS, SLOW_BODIES = 100, 140, 60  # 300 connections from 127.0.0.1
PER_ADDRESS = 100  # admin_nginx_connections_per_address
METADATA = ",".join(
    f"{key} {base64.b64encode(value.encode()).decode()}"
    for key, value in {"filetype": "video/mp4", "sha256": "ab" * 32}.items()
)


@dataclass
class Live:
    site: Site
    admin: LiveAdmin
    base: str
    tls: ssl.SSLContext

    def kiosk(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {**self.admin.kiosk_headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return requests.request(
            method,
            f"{self.base}{API}{path}",
            headers=headers,
            verify=str(self.site.certificate),
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def live(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    admin = start_live_admin(tmp_path_factory.mktemp("nginx-limits"), site.upstream_port)
    try:
        with start_nginx(site):
            yield Live(
                site,
                admin,
                f"https://127.0.0.1:{site.https_port}",
                ssl.create_default_context(cafile=str(site.certificate)),
            )
    finally:
        admin.stop()


def test_the_site_sets_the_limits(live: Live) -> None:
    result = subprocess.run(nginx_command(live.site, "-t"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = live.site.conf.read_text()
    assert f"limit_conn vertelpaal_per_address {PER_ADDRESS};" in text
    assert "proxy_request_buffering off" not in text  # uploads are buffered like everything else
    assert "client_max_body_size 64m;" in text and "client_max_body_size 1m;" in text


def test_kiosk_api_bodies_too_large_for_nginx_get_json(live: Live) -> None:
    too_big = json.dumps({"padding": "x" * 1024 * 1024})
    answer = live.kiosk(
        "PUT", f"/sessions/{uuid.uuid4()}", data=too_big, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.headers["Content-Type"] == "application/json" and answer.json()["error"]
    chunk = live.kiosk(
        "PATCH",
        f"/uploads/{uuid.uuid4()}",
        data=b"x" * (64 * 1024 * 1024 + 1),
        headers={"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"},
    )
    assert chunk.status_code == 413 and chunk.json()["error"]


def _uploads(live: Live, count: int) -> list[str]:
    paths = []
    for _ in range(count):
        created = live.kiosk(
            "POST",
            "/uploads",
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "200000",
                "Upload-Metadata": METADATA,
            },
        )
        assert created.status_code == 201, created.text
        paths.append(created.headers["Location"].removeprefix(live.base))
    return paths


def test_slow_clients_do_not_stop_the_server(live: Live) -> None:
    staff = signed_in(live.base, verify=str(live.site.certificate))
    # Slow bodies on the upload path: before, nginx passed them to gunicorn as they arrived.
    uploads = _uploads(live, SLOW_BODIES)
    tus = (
        f"Authorization: Bearer {live.admin.token}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
    )
    slow = SlowClients(
        live.site.https_port,
        idle=SLOW_IDLE,
        headers=SLOW_HEADERS,
        bodies=SLOW_BODIES,
        body_paths=uploads,
        extra_headers=tus,
        tls=live.tls,
        host=SERVER_NAME,
    )
    with slow:
        time.sleep(2)  # every slow client has sent something more
        for _ in range(3):
            page_seconds, page = timed(lambda: staff.get(f"{live.base}/", timeout=30))
            assert page.status_code == 200 and "/login" not in page.url
            body = session_body(live.admin.questionnaire)
            session_seconds, stored = timed(
                lambda body=body: live.kiosk("PUT", f"/sessions/{uuid.uuid4()}", json=body)  # type: ignore[misc]
            )
            assert stored.status_code == 201, stored.text
            # The bound: answered within 1 s while 300 slow connections are open.
            assert page_seconds < 1.0 and session_seconds < 1.0, (page_seconds, session_seconds)
        assert slow.dropped == 0  # all 300 were still open while these were answered


def test_one_address_has_at_most_its_share_of_requests_at_once(live: Live) -> None:
    with SlowClients(
        live.site.https_port,
        bodies=PER_ADDRESS,
        body_paths=[f"{API}/sessions/{uuid.uuid4()}"],
        extra_headers=f"Authorization: Bearer {live.admin.token}\r\nContent-Type: application/json\r\n",
        tls=live.tls,
        host=SERVER_NAME,
    ):
        time.sleep(1)
        refused = live.kiosk("GET", "/config")
        assert refused.status_code == 429
        assert refused.headers["Content-Type"] == "application/json" and refused.json()["retry_after"] == 5
    # Once they are gone, the address is served again.
    time.sleep(0.5)
    assert live.kiosk("GET", "/config").status_code == 200
