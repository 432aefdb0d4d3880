"""The recorder sealing to the server's public key: nothing playable on disk, the same recording inside."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import av
import numpy as np
from nacl.public import PrivateKey

import mediaseal
from kiosk.hardware.camera import FileCamera
from kiosk.hardware.recorder import EncoderSettings, Recorder, RecorderState


def opens_as_media(path: Path) -> bool:
    try:
        with av.open(str(path)) as container:
            return any(s.type in ("video", "audio") for s in container.streams)
    except (av.FFmpegError, ValueError):
        return False


def keys_of(server: PrivateKey) -> dict[bytes, PrivateKey]:
    return {mediaseal.key_id(bytes(server.public_key)): server}


def test_a_sealed_recording_is_unreadable_on_disk_and_the_same_recording_inside(tmp_path: Path) -> None:
    server = PrivateKey.generate()
    settings = EncoderSettings(width=320, height=180, fps=25)
    path = tmp_path / "sealed.mp4"
    recorder = Recorder(path, video=True, audio=True, settings=settings, seal_to=bytes(server.public_key))
    recorder.start()
    rng = np.random.default_rng(7)
    for index in range(100):  # 4 s: several fragments, several sealed chunks
        t = 100 + index / 25
        picture = np.full((180, 320, 3), (index * 5) % 255, np.uint8)
        assert recorder.push_frame(picture, t)
        recorder.push_audio((rng.standard_normal((1920, 1)) * 0.1).astype(np.float32), t)
    result = recorder.stop()
    assert result.sealed is not None and "key" not in repr(result.sealed)

    on_disk = path.read_bytes()
    assert mediaseal.is_sealed(on_disk) and not opens_as_media(path)
    assert b"ftyp" not in on_disk and b"moof" not in on_disk
    assert result.sealed.sealed_sha256 == hashlib.sha256(on_disk).hexdigest()
    assert result.sealed.sealed_size == len(on_disk)

    plain = io.BytesIO()
    opened = mediaseal.unseal(io.BytesIO(on_disk), plain, keys_of(server))
    assert opened.plain_sha256 == result.sha256 == hashlib.sha256(plain.getvalue()).hexdigest()
    assert opened.plain_size == result.size
    assert plain.getvalue()[4:8] == b"ftyp" and b"moof" in plain.getvalue()
    plain.seek(0)
    with av.open(plain) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == result.video_frames == 100

    # The visitor's review reads the same bytes with the recording's own key, at any offset.
    with path.open("rb") as source:
        reader = mediaseal.SealedReader(source, result.sealed.key)
        reader.seek(70_000)
        assert reader.read(5000) == plain.getvalue()[70_000:75_000]


def test_an_aborted_sealed_recording_leaves_nothing(test_video: Path, tmp_path: Path) -> None:
    with FileCamera(test_video) as camera:
        server_key = bytes(PrivateKey.generate().public_key)
        recorder = Recorder(tmp_path / "gone.mp4", camera=camera, seal_to=server_key)
        recorder.start()
        assert recorder.wait(0.5) is False
        assert recorder.temp_path.exists()
        recorder.abort()
    assert recorder.state is RecorderState.ABORTED
    assert list(tmp_path.iterdir()) == []


def test_a_live_sealed_recording_from_the_camera(test_video: Path, tmp_path: Path) -> None:
    server = PrivateKey.generate()
    with FileCamera(test_video) as camera:
        recorder = Recorder(
            tmp_path / "live.mp4", camera=camera, max_seconds=1.0, seal_to=bytes(server.public_key)
        )
        recorder.start()
        assert recorder.wait(5.0)
    result = recorder.stop()
    assert not opens_as_media(result.path)
    plain = io.BytesIO()
    with result.path.open("rb") as source:
        mediaseal.unseal(source, plain, keys_of(server))
    plain.seek(0)
    with av.open(plain) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) >= 20
