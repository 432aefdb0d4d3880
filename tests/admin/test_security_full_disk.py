"""A full media disk (#13, hole 11): kiosk uploads answer 507 in JSON and can resume once there is
room; staff uploads say "disk full" and leave no file in the store without a row.

The disk is real: a small tmpfs mounted as MEDIA_ROOT (this needs root, as the test machine runs),
nearly filled by a filler file. Kiosk uploads go through a real gunicorn with the shipped
configuration and the real tuspy client.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from admin.extensions import db
from admin.mediafiles.operations import Expect, check_path, store_checked
from admin.models import Branch, Kiosk, Media, Question, Role, Upload
from tests.admin.helpers import (
    MEDIA_SET,
    PASSWORD,
    KeptOpen,
    login,
    new_kiosk,
    next_code,
    tuspy_uploader,
)
from tests.e2e.stack import AdminServer
from tests.support.net import free_port

RECORDING = MEDIA_SET / "sample" / "camera.mp4"
VIDEO = MEDIA_SET / "questions" / "satisfaction.nl.mp4"
SUBTITLES = MEDIA_SET / "questions" / "satisfaction.nl.vtt"
ENDPOINT = "/api/kiosk/v1/uploads"
FILLER = "filler"


@pytest.fixture
def small_disk(app: Flask) -> Iterator[Path]:
    """MEDIA_ROOT on its own 4 MB tmpfs, unmounted again whatever happens."""
    root = Path(app.config["MEDIA_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def free_bytes(root: Path) -> int:
    stat = os.statvfs(root)
    return stat.f_bavail * stat.f_frsize


def fill(root: Path, leave: int) -> None:
    """Fill the disk with real bytes until about ``leave`` bytes are free."""
    with (root / FILLER).open("wb") as out:
        remaining = free_bytes(root) - leave
        while remaining > 0:
            remaining -= out.write(bytes(min(remaining, 1 << 20)))
    assert abs(free_bytes(root) - leave) < 64 * 1024


def files_in_store(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != FILLER)


def count(app: Flask, model: type[Any]) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


# --- a kiosk's upload, through gunicorn and tuspy ---------------------------------------------


@pytest.fixture
def kiosk_token(app: Flask, make_branch: Callable[..., Branch]) -> str:
    return new_kiosk(app, make_branch("Peize").id)


@pytest.fixture
def gunicorn(app: Flask, small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The admin server under gunicorn (deploy/gunicorn.conf.py), on the test's database and disk."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the traffic stays on 127.0.0.1
    monkeypatch.setenv("NO_PROXY", "*")
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "VERTELPAAL_ENV": "production",
        "SECRET_KEY": "full-disk-test-secret",
        "DATABASE_URL": str(app.config["SQLALCHEMY_DATABASE_URI"]),
        "MEDIA_ROOT": str(small_disk),
        "KIOSK_SEALING_KEY_FILE": str(tmp_path / "kiosk-sealing.key"),
        "GUNICORN_WORKERS": "1",
    }
    server = AdminServer(port, env, tmp_path / "gunicorn.log").start()
    try:
        yield server.url
    finally:
        server.stop()


def test_a_full_disk_during_a_tus_upload_is_507_json_and_the_kiosk_resumes_later(
    app: Flask, gunicorn: str, small_disk: Path, kiosk_token: str, tmp_path: Path
) -> None:
    from tusclient.exceptions import TusCommunicationError
    from tusclient.storage.filestorage import FileStorage

    data = RECORDING.read_bytes()
    chunk = 128 * 1024
    fill(small_disk, leave=len(data) // 2)
    urls = FileStorage(str(tmp_path / "tus-urls.json"))

    def uploader(recording: KeptOpen) -> Any:
        return tuspy_uploader(f"{gunicorn}{ENDPOINT}", kiosk_token, recording, chunk, urls, retries=0)

    with closing(KeptOpen(RECORDING)) as recording:
        first = uploader(recording)
        with pytest.raises(TusCommunicationError) as refused:
            first.upload()
    assert refused.value.status_code == 507
    assert b"disk is full" in refused.value.response_content

    # The same answer, seen raw: JSON, and the server still has exactly the chunks it confirmed.
    headers = {"Authorization": f"Bearer {kiosk_token}", "Tus-Resumable": "1.0.0"}
    head = requests.head(str(first.url), headers=headers, timeout=10)
    offset = int(head.headers["Upload-Offset"])
    assert offset == first.offset and offset % chunk == 0 and 0 < offset < len(data)
    partial = small_disk / "uploads" / f"{str(first.url).rsplit('/', 1)[1]}.part"
    assert partial.stat().st_size == offset
    again = requests.patch(
        str(first.url),
        data=data[offset:],
        headers={**headers, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
        timeout=30,
    )
    assert again.status_code == 507
    assert again.headers["Content-Type"] == "application/json"
    assert "disk is full" in again.json()["error"]
    assert partial.stat().st_size == offset  # the refused bytes gave their room back
    assert count(app, Media) == 0

    (small_disk / FILLER).unlink()  # the administrator makes room
    with closing(KeptOpen(RECORDING)) as recording:
        second = uploader(recording)  # found again by fingerprint; asks the offset and goes on
        assert second.url == first.url and second.offset == offset
        second.upload()
    urls.close()
    assert second.offset == len(data)
    with app.app_context():
        upload = db.session.scalar(select(Upload))
        assert upload is not None and upload.media_sha256 == hashlib.sha256(data).hexdigest()
    assert (small_disk / files_in_store(small_disk)[0]).read_bytes() == data


# --- a staff upload --------------------------------------------------------------------------


def _png(size: int) -> bytes:
    """A PNG of noise: incompressible, so it takes its full size on the disk."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(out, "PNG")
    return out.getvalue()


class Staff:
    """A staff member signed in through gunicorn's login form and two-step code.

    In production the session cookie is Secure: requests keeps it but sends it only over https,
    so on 127.0.0.1 without TLS it is sent by hand (and redirects are followed by the test).
    """

    def __init__(self, base: str, app: Flask, email: str) -> None:
        self.base, self.http = base, requests.Session()
        self.post("/login", {"email": email, "password": PASSWORD, "csrf_token": self.csrf("/login")})
        self.post("/login/code", {"code": next_code(app, email), "csrf_token": self.csrf("/login/code")})
        assert "/logout" in self.get("/").text

    def _cookies(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)}

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base + path, headers=self._cookies(), timeout=30, allow_redirects=False)

    def post(self, path: str, data: dict[str, str], **files: tuple[str, bytes]) -> requests.Response:
        return self.http.post(
            self.base + path,
            data=data,
            files=files,
            headers=self._cookies(),
            timeout=60,
            allow_redirects=False,
        )

    def csrf(self, path: str) -> str:
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.get(path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)


def test_a_full_disk_during_a_staff_upload_says_so_and_leaves_no_file_without_a_row(
    app: Flask, gunicorn: str, make_user: Callable[..., object], small_disk: Path
) -> None:
    make_user("boss@bieb.example", Role.ADMIN, locale="en")
    staff = Staff(gunicorn, app, "boss@bieb.example")
    pictograms = [_png(180), _png(180)]
    video = VIDEO.read_bytes()

    def create_question() -> requests.Response:
        fields = {
            "csrf_token": staff.csrf("/questions/new"),
            "name": "Vol",
            "kind": "choice",
            "language": "nl",
        }
        files = {"video": ("vraag.mp4", video), "subtitles": ("vraag.vtt", SUBTITLES.read_bytes())}
        for number, picture in enumerate(pictograms):
            fields |= {f"options-{number}-value": f"v{number}", f"options-{number}-label": f"Kaart {number}"}
            files[f"options-{number}-pictogram"] = (f"kaart{number}.png", picture)
        return staff.post("/questions/new", fields, **files)

    # Room to stage every file and store the pictograms, not to store the video after them.
    staged = len(video) + SUBTITLES.stat().st_size + sum(map(len, pictograms))
    fill(small_disk, leave=staged + sum(map(len, pictograms)) + len(video) // 2)
    response = create_question()
    assert response.status_code == 200
    assert 'class="flash flash-error"' in response.text and "disk is full" in response.text
    assert files_in_store(small_disk) == []
    assert (count(app, Media), count(app, Question)) == (0, 0)

    (small_disk / FILLER).unlink()
    response = create_question()
    assert response.status_code == 302
    assert "Question Vol saved" in staff.get(response.headers["Location"]).text
    assert count(app, Question) == 1 and len(files_in_store(small_disk)) == count(app, Media) == 5


def test_a_poster_that_finds_the_disk_full_is_made_later(
    app: Flask, client: FlaskClient, make_user: Callable[..., object], small_disk: Path, kiosk_token: str
) -> None:
    """A recording's poster is made when staff first look: on a full disk they get none (404), not a 500."""
    with app.test_request_context():
        kiosk = db.session.scalars(select(Kiosk)).one()  # the recording is its upload, seen in its branch
        checked = check_path(MEDIA_SET / "sample" / "answer-video.mp4", Expect.RECORDED_VIDEO)
        recording = store_checked(checked, kiosk_id=kiosk.id)
        db.session.commit()
        sha256 = recording.sha256
    make_user("boss@bieb.example", Role.ADMIN, locale="en")
    login(client, "boss@bieb.example")
    fill(small_disk, leave=0)
    with client.get(f"/media/{sha256}/poster") as response:
        assert response.status_code == 404
    assert files_in_store(small_disk) == [f"{sha256[:2]}/{sha256[2:4]}/{sha256}"]
    assert count(app, Media) == 1

    (small_disk / FILLER).unlink()
    with client.get(f"/media/{sha256}/poster") as response:
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert count(app, Media) == 2


def test_a_sealed_recording_with_no_room_to_open_is_507_and_completes_once_there_is(
    app: Flask, client: FlaskClient, kiosk_token: str, small_disk: Path
) -> None:
    """The last chunk fits, the plaintext opened from it does not: the chunk is taken back."""
    from tests.admin.test_sealed_uploads import sealed_bytes, server_public_key
    from tests.admin.test_uploads import KioskAuth, create, head_offset, patch

    kiosk = KioskAuth(0, kiosk_token)
    plaintext = RECORDING.read_bytes()
    sealed = sealed_bytes(plaintext, server_public_key(app))
    fill(small_disk, leave=len(sealed) + len(plaintext) // 2)
    created = create(client, kiosk, sealed, sealed="1", plain_sha256=hashlib.sha256(plaintext).hexdigest())
    url, half = str(created.headers["Location"]), len(sealed) // 2
    assert patch(client, kiosk, url, 0, sealed[:half]).status_code == 204
    refused = patch(client, kiosk, url, half, sealed[half:])
    assert refused.status_code == 507 and "disk is full" in refused.get_json()["error"]
    assert head_offset(client, kiosk, url) == half
    assert not list((small_disk / "uploads").glob("*.plain.part")) and count(app, Media) == 0

    (small_disk / FILLER).unlink()
    assert patch(client, kiosk, url, half, sealed[half:]).status_code == 204
    assert count(app, Media) == 1
