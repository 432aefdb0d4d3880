"""Limits of every server entry point (#13, holes 2-5 and the kiosk API's 413), over HTTP against
a real gunicorn started with deploy/gunicorn.conf.py on SQLite, from 127.0.0.1 as the attacker was.
The same limits behind the shipped nginx site are in tests/deploy/test_nginx.py."""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import requests

from tests.support.live_admin import API, LiveAdmin, SlowClients, session_body, start_live_admin
from tests.support.net import free_port

pytestmark = pytest.mark.postgres  # with the other tests that start gunicorn (SQLite is enough here)

HEADER_DEADLINE = 2  # seconds, instead of 10: the slow-header test waits for it
BODY_DEADLINE = 3  # seconds, instead of 20
MIB = 1024 * 1024  # the body limit of sessions and heartbeats (admin/kiosk_api/bodies.py)
METADATA = ",".join(
    f"{key} {base64.b64encode(value.encode()).decode()}"
    for key, value in {"filetype": "video/mp4", "sha256": "ab" * 32}.items()
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAdmin]:
    admin = start_live_admin(
        tmp_path_factory.mktemp("limits"),
        free_port(),
        GUNICORN_HEADER_DEADLINE=str(HEADER_DEADLINE),
        KIOSK_BODY_SECONDS=str(BODY_DEADLINE),
    )
    yield admin
    admin.stop()


def api(live: LiveAdmin, path: str) -> str:
    return f"{live.server.url}{API}{path}"


def put_session(
    live: LiveAdmin, body: Any, session_uuid: str | None = None, **kwargs: Any
) -> requests.Response:
    return requests.put(
        api(live, f"/sessions/{session_uuid or uuid.uuid4()}"),
        json=body,
        headers=live.kiosk_headers,
        **{"timeout": 30, **kwargs},
    )


def assert_json_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"] == "application/json", response.text[:300]
    answer: dict[str, Any] = response.json()
    assert isinstance(answer["error"], str) and answer["error"]
    return answer


def raw_answer(live: LiveAdmin, head: str) -> str:
    """The answer to a request of which only ``head`` is sent (its body never follows)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", live.server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        # The server answers at once and then waits (at most 5 s) for the body it will not read.
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    return answer.decode(errors="replace")


def test_every_kiosk_body_has_a_size_limit_answered_in_json(live: LiveAdmin) -> None:
    too_big = json.dumps({"padding": "x" * MIB})
    headers = {**live.kiosk_headers, "Content-Type": "application/json"}
    for method, path in (("PUT", f"/sessions/{uuid.uuid4()}"), ("POST", "/heartbeat")):
        answer = requests.request(method, api(live, path), data=too_big, headers=headers, timeout=30)
        assert assert_json_error(answer, 413)["limit"] == MIB
    enrollment = json.dumps({"name": "x" * 4096})
    answer = requests.post(api(live, "/enrollments"), data=enrollment, headers=headers, timeout=30)
    assert_json_error(answer, 413)

    # Larger than the staff pages' limit (MAX_UPLOAD_MB): the kiosk API still answers in JSON.
    head = raw_answer(
        live,
        f"PUT {API}/sessions/{uuid.uuid4()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {live.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {500 * 1024 * 1024}\r\nConnection: close\r\n\r\n",
    )
    assert head.startswith("HTTP/1.1 413") and "application/json" in head, head

    # A session of normal size is stored.
    assert put_session(live, session_body(live.questionnaire)).status_code == 201


def test_a_tus_chunk_larger_than_the_largest_kiosk_chunk_is_refused(live: LiveAdmin) -> None:
    tus = {**live.kiosk_headers, "Tus-Resumable": "1.0.0"}
    created = requests.post(
        api(live, "/uploads"),
        timeout=10,
        headers={**tus, "Upload-Length": str(200 * 1024 * 1024), "Upload-Metadata": METADATA},
    )
    assert created.status_code == 201, created.text
    head = raw_answer(
        live,
        f"PATCH {created.headers['Location']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {live.token}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {65 * 1024 * 1024}\r\nConnection: close\r\n\r\n",
    )
    assert head.startswith("HTTP/1.1 413") and "at most 67108864 in one PATCH" in head, head


@pytest.mark.parametrize("path", ["/sessions/{uuid}", "/heartbeat", "/enrollments"])
def test_json_nested_too_deeply_is_a_json_400(live: LiveAdmin, path: str) -> None:
    method = "PUT" if path.startswith("/sessions") else "POST"
    headers = {**live.kiosk_headers, "Content-Type": "application/json"}
    url = api(live, path.format(uuid=uuid.uuid4()))
    # 100,000 levels as the attacker sent (4,000 for an enrollment: its body is at most 4 KiB).
    deepest = "[" * (4000 if path == "/enrollments" else 100_000)
    for body in (deepest, "[" * 17 + "]" * 17, '{"a":' * 20 + "1" + "}" * 20):
        answer = requests.request(method, url, data=body, headers=headers, timeout=30)
        assert "nested deeper" in assert_json_error(answer, 400)["error"]


def test_answers_of_the_wrong_type_or_too_many_are_refused(live: LiveAdmin) -> None:
    questionnaire = live.questionnaire
    session_uuid = str(uuid.uuid4())
    for value in (["4"], {}, 4, None):
        answer = put_session(live, session_body(questionnaire, value=value), session_uuid)
        assert "value" in assert_json_error(answer, 422)["error"]

    twice = session_body(questionnaire)
    twice["answers"].append({**twice["answers"][0], "uuid": str(uuid.uuid4())})
    answer = put_session(live, twice, session_uuid)
    assert "answered twice" in assert_json_error(answer, 422)["error"]

    many = session_body(questionnaire)
    many["answers"] = [
        {**many["answers"][0], "uuid": str(uuid.uuid4())} for _ in range(len(questionnaire["questions"]) + 1)
    ]
    answer = put_session(live, many, session_uuid)
    assert "at most" in assert_json_error(answer, 422)["error"]

    # None of them was stored: the uuid is still free.
    assert put_session(live, session_body(questionnaire), session_uuid).status_code == 201


def test_session_fields_of_the_wrong_shape_are_refused(live: LiveAdmin) -> None:
    """The fields a kiosk adds beside its answers (#12): what it did not find, what it came for, and
    whether the visitor is a member. A hostile kiosk gets a 422 for each, never a 500 or a label
    that skews the activity figures."""
    questionnaire = live.questionnaire
    session_uuid = str(uuid.uuid4())
    wrong: list[tuple[str, Any]] = [
        ("missing_devices", [["camera"]]),
        ("missing_devices", [{}]),
        ("missing_devices", "camera"),
        ("missing_devices", ["camera", "camera"]),
        ("member", ["yes"]),
        ("member", {}),
        ("member", "maybe"),
        ("activity", ["Taalhuis"]),
        ("consent", "yes"),
        ("parent_consent", []),
        ("language", {"nl": 1}),
    ]
    for field, value in wrong:
        answer = put_session(live, {**session_body(questionnaire), field: value}, session_uuid)
        assert field in assert_json_error(answer, 422)["error"], (field, value)
    # The demo's general questionnaire belongs to no activity: a kiosk's claim of one is not believed.
    claimed = {**session_body(questionnaire), "activity": "Taalhuis", "missing_devices": ["microphone"]}
    assert put_session(live, claimed, session_uuid).status_code == 201
    database = live.server.env["DATABASE_URL"].removeprefix("sqlite:///")
    with closing(sqlite3.connect(database)) as db:
        stored = db.execute("SELECT activity, missing_devices FROM sessions WHERE uuid = ?", (session_uuid,))
        assert stored.fetchall() == [(None, "microphone")]


def test_sessions_stalled_halfway_hold_no_session_slot(live: LiveAdmin) -> None:
    # More stalled sessions than the slots of both workers (2 each): before, they took every
    # slot and waited there for their bodies, and the next session got 503 after 30 s.
    with SlowClients(
        live.server.port,
        bodies=12,
        body_paths=[f"{API}/sessions/{uuid.uuid4()}"],
        extra_headers=f"Authorization: Bearer {live.token}\r\nContent-Type: application/json\r\n",
    ):
        time.sleep(0.5)  # their headers are in and the app reads their bodies
        answer = put_session(live, session_body(live.questionnaire), timeout=25)
        assert answer.status_code == 201, answer.text


def test_a_body_that_trickles_in_is_cut_off_at_the_deadline(live: LiveAdmin) -> None:
    with socket.create_connection(("127.0.0.1", live.server.port), timeout=BODY_DEADLINE + 10) as sock:
        sock.sendall(
            f"PUT {API}/sessions/{uuid.uuid4()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {live.token}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n{".encode()
        )
        received = b""
        deadline = time.monotonic() + BODY_DEADLINE + 10
        sock.settimeout(0.5)
        # A byte every half second: never silent long enough for a timeout per read.
        while b"\r\n\r\n" not in received and time.monotonic() < deadline:
            try:
                sock.sendall(b" ")
                received += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
    assert received.startswith(b"HTTP/1.1 408"), received[:300]
    assert b"did not arrive within" in received or b"application/json" in received


def test_headers_that_trickle_in_lose_the_connection(live: LiveAdmin) -> None:
    with socket.create_connection(("127.0.0.1", live.server.port), timeout=10) as sock:
        sock.settimeout(0.5)
        request = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: y\r\n" * 40
        closed = False
        deadline = time.monotonic() + HEADER_DEADLINE + 10
        for byte in request:
            if time.monotonic() > deadline:
                break
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
    assert closed


def test_gunicorn_refuses_oversized_request_lines_and_headers(live: LiveAdmin) -> None:
    long_line = requests.get(f"{live.server.url}/login?q={'x' * 5000}", timeout=10)
    assert long_line.status_code in (400, 414)
    many = {f"X-Field-{n}": "1" for n in range(60)}
    assert requests.get(f"{live.server.url}/login", headers=many, timeout=10).status_code in (400, 431)
    assert requests.get(f"{live.server.url}/login", timeout=10).status_code == 200
