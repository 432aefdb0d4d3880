"""Recordings at rest on the kiosk are sealed: an SD card taken from a kiosk holds no playable video.

The real kiosk service (a process, camera from a file, microphone through PulseAudio), enrolled
with a real admin server on 127.0.0.1 that hands out its public key. A visitor records a video
and a voice answer, plays them back (Range requests as the <video> element makes them), and sends
them. Then every file in the kiosk's data folder is looked at as a thief would; and the sync
service delivers the recordings, which the server opens and staff play on the answer page.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import uuid

import av
import pytest
import requests
from flask import Flask
from playwright.sync_api import Page

import mediaseal
from admin import sealing
from admin.demo.seed import DEMO_PASSWORD, seed
from admin.extensions import db
from admin.models import Answer, Media
from admin.storage import media_store
from kiosk.config import KioskConfig
from kiosk.hardware.pulse import PulseNullSink
from kiosk.outbox import Outbox
from kiosk.sync import SyncService
from tests.admin.helpers import MEDIA_SET, login
from tests.kiosk.conftest import PlayTone
from tests.kiosk.test_sync import approve
from tests.support.kiosk_process import Kiosk, StartKiosk
from tests.support.net import free_port
from tests.support.sealing import write_synced_config

pytestmark = pytest.mark.audio

# Box signatures that every fragmented MP4 of the recorder holds: the file type box with its
# brand, and a fragment box followed by its header box. (Longer than four bytes, so that random
# sealed bytes never match them by chance.)
FTYP = b"ftypiso5"
MOOF = b"moof\x00\x00\x00\x10mfhd"


def api(kiosk: Kiosk, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(method, kiosk.url.rstrip("/") + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def opens_as_media(data: bytes) -> bool:
    """Whether PyAV finds a picture or sound in these bytes (frames that decode)."""
    try:
        with av.open(io.BytesIO(data)) as container:
            streams = [s for s in container.streams if s.type in ("video", "audio")]
            return bool(streams) and any(True for _ in container.decode(*streams))
    except (av.FFmpegError, ValueError, UnicodeDecodeError):
        return False


def decoded_frames(data: bytes, kind: str) -> int:
    with av.open(io.BytesIO(data)) as container:
        if kind == "video":
            return sum(1 for _ in container.decode(video=0))
        return sum(1 for _ in container.decode(audio=0))


def plays_in_chromium(page: Page, kiosk: Kiosk, url: str) -> None:
    """Chromium's <video> plays the sealed recording from the kiosk service, and seeks in it."""
    page.goto(kiosk.url)
    ready = page.evaluate(
        """async (url) => {
            const video = document.createElement('video');
            video.muted = true;
            video.src = url;
            document.body.append(video);
            await video.play();
            const started = performance.now();  // playing on, however slowly the machine goes
            while (video.currentTime <= 0.2 && performance.now() - started < 10000) {
                await new Promise((done) => setTimeout(done, 50));
            }
            const played = video.currentTime;
            video.currentTime = video.duration - 0.3;  // a seek: a Range request near the end
            await new Promise((done) => video.addEventListener('seeked', done, {once: true}));
            return {played, width: video.videoWidth, error: video.error && video.error.code,
                    at: video.currentTime, duration: video.duration};
        }""",
        url,
    )
    assert ready["error"] is None and ready["width"] > 0, ready
    assert ready["played"] > 0.2 and ready["at"] > ready["duration"] - 1, ready


def record(
    kiosk: Kiosk, session: str, kind: str, question_id: str, seconds: float, page: Page | None = None
) -> tuple[str, bytes]:
    """Record, play back as the review screen does, and send; returns the recording and its bytes."""
    started = api(kiosk, "POST", "/api/recordings", json={"session": session, "kind": kind})
    assert started.status_code == 201, started.text
    recording = started.json()["uuid"]
    time.sleep(seconds)
    stopped = api(kiosk, "POST", f"/api/recordings/{recording}/stop")
    assert stopped.status_code == 200, stopped.text
    url = stopped.json()["url"]

    whole = api(kiosk, "GET", url)
    assert whole.status_code == 200 and whole.headers["Content-Type"] == (
        "video/mp4" if kind == "video" else "audio/mp4"
    )
    plaintext = whole.content
    assert int(whole.headers["Content-Length"]) == len(plaintext)
    assert plaintext[4:8] == b"ftyp" and decoded_frames(plaintext, kind) > 0
    # The <video> element asks for ranges; one across a sealed chunk's edge, one at the end.
    size = len(plaintext)
    edge = mediaseal.CHUNK_SIZE
    for first, last in [
        (0, 1),
        (min(edge - 500, size // 2), min(edge + 500, size - 1)),
        (size - 100, size - 1),
    ]:
        part = api(kiosk, "GET", url, headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206, part.status_code
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{len(plaintext)}"
        assert part.content == plaintext[first : last + 1]
    if page is not None:
        plays_in_chromium(page, kiosk, url)

    answer = api(
        kiosk,
        "POST",
        f"/api/sessions/{session}/answers",
        json={"uuid": str(uuid.uuid4()), "question_id": question_id, "kind": kind, "recording": recording},
    )
    assert answer.status_code == 201, answer.text
    # Sent: the kiosk forgot the recording's key; nobody on the kiosk can play it any more.
    assert api(kiosk, "GET", url).status_code == 404
    return recording, plaintext


@pytest.mark.browser
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_sd_card_holds_no_playable_recording_and_the_server_gets_them_whole(
    app: Flask,
    live_server: str,
    start_kiosk: StartKiosk,
    pulse: PulseNullSink,
    play_tone: PlayTone,
    page: Page,
) -> None:
    with app.app_context():
        seed(MEDIA_SET, days=1)
        db.session.commit()
    kiosk = start_kiosk(pulse=pulse, server_url=live_server)
    sync = SyncService(KioskConfig(data_dir=kiosk.data_dir, server_url=live_server), chunk_size=64 * 1024)
    try:
        approve(app, sync, "Roden")
        assert sync.pull_config() is True
        assert sync.current_config()["sealing_key"]["public_key"]

        show = api(kiosk, "GET", "/api/show").json()
        assert show["status"] == "ready"
        questions = show["questionnaire"]["questions"]
        # An open question takes video or voice: one visitor answers with video, the next by voice.
        video_question = next(q for q in questions if q["kind"] in ("video", "open"))
        voice_question = next(q for q in questions if q["kind"] in ("voice", "open"))
        play_tone(660, 20)
        recorded = []
        for kind, question, seconds, shown in (
            ("video", video_question, 2.5, page),
            ("voice", voice_question, 2.0, None),
        ):
            started = api(kiosk, "POST", "/api/sessions", json={"language": "nl", "consent": True})
            assert started.status_code == 201, started.text
            session = started.json()["uuid"]
            recorded.append(record(kiosk, session, kind, question["id"], seconds, shown))
            assert api(kiosk, "POST", f"/api/sessions/{session}/finish").status_code == 200
        (video_uuid, video), (voice_uuid, voice) = recorded
        plaintexts = {video_uuid: video, voice_uuid: voice}
        for data in plaintexts.values():
            assert FTYP in data and MOOF in data  # so the look for them below means something

        # The SD card, as a thief would read it: every file of the kiosk's data folder.
        question_media = {item["sha256"] for item in sync.current_config()["media"]}
        looked_at = 0
        for path in sorted(kiosk.data_dir.rglob("*")):
            if not path.is_file():
                continue
            if path.parent == sync.paths.cache:
                # The server's own question videos and pictograms, the same on every kiosk.
                assert path.name in question_media, path
                continue
            data = path.read_bytes()
            looked_at += 1
            assert data[4:8] != b"ftyp" and FTYP not in data and MOOF not in data, path
            for plaintext in plaintexts.values():
                assert plaintext[:4096] not in data, path
            assert not opens_as_media(data), path
        assert looked_at >= 3  # the two recordings and the outbox at least

        # The sealed files open with the server's private key, to exactly what was played back.
        with app.app_context():
            keys = sealing.load(sealing.key_file()).by_id
        outbox = Outbox(kiosk.data_dir / "outbox.sqlite3", kiosk.recordings_dir)
        try:
            for recording_uuid, plaintext in plaintexts.items():
                row = outbox.recording(recording_uuid)
                assert row is not None and row.sha256 == hashlib.sha256(plaintext).hexdigest()
                # The sealed file's own sha256 was kept while it was written: the upload names it
                # without reading the file again.
                assert row.sealed_sha256 == hashlib.sha256(outbox.file_of(row).read_bytes()).hexdigest()
                opened = io.BytesIO()
                with outbox.file_of(row).open("rb") as sealed:
                    result = mediaseal.unseal(sealed, opened, keys)
                assert result.plain_sha256 == row.sha256 and opened.getvalue() == plaintext
        finally:
            outbox.close()

        # Sync: the sealed files travel, the server stores the recordings inside.
        assert sync.push() == 2
        assert list(kiosk.recordings_dir.iterdir()) == []
    finally:
        sync.close()

    staff = app.test_client()
    assert login(staff, "roden@vertelpaal.example", DEMO_PASSWORD) == 302
    for plaintext in plaintexts.values():
        sha256 = hashlib.sha256(plaintext).hexdigest()
        with app.app_context():
            assert media_store().path(sha256).read_bytes() == plaintext
            media = db.session.get(Media, sha256)
            assert media is not None and media.size == len(plaintext)
            answer = db.session.scalar(db.select(Answer).where(Answer.media_sha256 == sha256))
            assert answer is not None
            answer_uuid = answer.uuid
        page = staff.get(f"/responses/{answer_uuid}")
        assert page.status_code == 200
        source = re.search(r'<source src="([^"]+)"', page.get_data(as_text=True))
        assert source is not None
        with staff.get(source.group(1).replace("&amp;", "&")) as played:
            assert played.status_code == 200 and played.get_data() == plaintext
        kind = "video" if media.content_type == "video/mp4" else "voice"
        assert decoded_frames(plaintext, kind) > 0


def test_a_standalone_kiosk_keeps_plain_recordings(start_kiosk: StartKiosk, pulse: PulseNullSink) -> None:
    """Without a server there is no key to seal to: recordings stay plain MP4, as documented."""
    kiosk = start_kiosk(pulse=pulse)
    session = api(kiosk, "POST", "/api/sessions", json={"language": "nl", "consent": True}).json()["uuid"]
    started = api(kiosk, "POST", "/api/recordings", json={"session": session, "kind": "video"})
    assert started.status_code == 201, started.text
    recording = started.json()["uuid"]
    time.sleep(1.5)
    assert api(kiosk, "POST", f"/api/recordings/{recording}/stop").status_code == 200
    [path] = list(kiosk.recordings_dir.iterdir())
    assert not mediaseal.file_is_sealed(path) and opens_as_media(path.read_bytes())


def test_killed_while_recording_sealed_leaves_nothing_half_made(
    start_kiosk: StartKiosk, pulse: PulseNullSink
) -> None:
    """kill -9 mid-recording on an enrolled kiosk: the half-made sealed file goes at restart; a
    recording already sent stays sealed and whole (it opens with the server's key to its sha256),
    and no key to it survived the crash on the kiosk."""
    kiosk = start_kiosk(pulse=pulse, server_url=f"http://127.0.0.1:{free_port()}")
    server = write_synced_config(kiosk.data_dir)  # as the sync service leaves it (read per request)
    session = api(kiosk, "POST", "/api/sessions", json={"language": "nl", "consent": True}).json()["uuid"]
    first = api(kiosk, "POST", "/api/recordings", json={"session": session, "kind": "voice"}).json()["uuid"]
    time.sleep(1.0)
    assert api(kiosk, "POST", f"/api/recordings/{first}/stop").status_code == 200
    given = {"uuid": str(uuid.uuid4()), "question_id": "story", "kind": "voice", "recording": first}
    assert api(kiosk, "POST", f"/api/sessions/{session}/answers", json=given).status_code == 201

    second = api(kiosk, "POST", "/api/recordings", json={"session": session, "kind": "video"})
    assert second.status_code == 201, second.text

    def on_disk() -> int:  # bytes of the recording in progress that reached the disk (fsynced every 2 s)
        return sum(p.stat().st_size for p in kiosk.files() if p.name.endswith(".part"))

    kiosk.wait_for(lambda: on_disk() > 3 * mediaseal.SEALED_CHUNK_SIZE, "a recording in progress")
    kiosk.kill()
    [partial] = [p for p in kiosk.files() if p.name.endswith(".part")]
    data = partial.read_bytes()
    assert mediaseal.file_is_sealed(partial) and MOOF not in data and not opens_as_media(data)
    kiosk.start()  # start-up runs the outbox's recovery

    [closed] = kiosk.sessions()
    recording = closed.answers[0].recording
    assert recording is not None and recording.uuid == first
    assert [p.name for p in kiosk.files()] == [recording.file_name]  # the half-made video is gone
    assert api(kiosk, "GET", f"/api/recordings/{first}/media").status_code == 404
    opened = io.BytesIO()
    with (kiosk.recordings_dir / recording.file_name).open("rb") as sealed:
        result = mediaseal.unseal(sealed, opened, {mediaseal.key_id(bytes(server.public_key)): server})
    assert result.plain_sha256 == recording.sha256 and decoded_frames(opened.getvalue(), "voice") > 0
