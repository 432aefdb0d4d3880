"""Fixtures for the kiosk tests: a PulseAudio null sink as microphone, the kiosk service as a process.

When PulseAudio cannot start, the tests that need it FAIL instead of being skipped: CI must never
pass without having heard anything. Such tests carry ``@pytest.mark.audio``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.hardware.pulse import PulseAudioError, PulseNullSink
from tests.support.kiosk_process import Kiosk, StartKiosk
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
CAMERA = ROOT / "media" / "sample" / "camera.mp4"
PlayTone = Callable[[float, float], subprocess.Popen[bytes]]


@pytest.fixture(scope="session")
def pulse() -> Iterator[PulseNullSink]:
    """A running PulseAudio null sink whose monitor is the default recording device."""
    sink = PulseNullSink("vsink")
    try:
        sink.start()
    except PulseAudioError as exc:
        pytest.fail(f"PulseAudio could not be started, so audio cannot be tested: {exc}")
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def play_tone(pulse: PulseNullSink) -> Iterator[PlayTone]:
    """``play_tone(hz, seconds)`` starts a sine tone into the null sink; ended after the test."""
    players: list[subprocess.Popen[bytes]] = []

    def play(frequency: float, seconds: float) -> subprocess.Popen[bytes]:
        player = pulse.play_tone(frequency, seconds)
        players.append(player)
        return player

    yield play
    for player in players:
        if player.poll() is None:
            player.terminate()
        player.wait(5)


@pytest.fixture
def start_kiosk(tmp_path: Path) -> Iterator[StartKiosk]:
    """``start_kiosk(pulse=..., idle_seconds=..., ...)`` starts a kiosk service process."""
    started: list[Kiosk] = []

    def start(
        *,
        pulse: PulseNullSink | None = None,
        camera: Path = CAMERA,
        idle_seconds: float = 45,
        still_there_seconds: float = 15,
        max_answer_seconds: float = 60,
        languages: tuple[str, ...] = ("nl", "en"),
        microphone: str = "default",
        server_url: str = "",
        recorder_profile: str = "720p-veryfast",
    ) -> Kiosk:
        port = free_port()
        folder = tmp_path / f"kiosk-{len(started)}"
        folder.mkdir()
        config = folder / "kiosk.toml"
        config.write_text(
            f'data_dir = "{folder / "data"}"\n'
            f"port = {port}\n"
            f"languages = [{', '.join(f'{code!r}' for code in languages)}]\n"
            f'server_url = "{server_url}"\n'
            "[camera]\n"
            f'source = "{camera}"\n'
            "[microphone]\n"
            f'device = "{microphone}"\n'
            "[timeouts]\n"
            f"idle_seconds = {idle_seconds}\n"
            f"still_there_seconds = {still_there_seconds}\n"
            f"max_answer_seconds = {max_answer_seconds}\n"
            # A forced profile: a start that measures costs seconds (the profile tests measure).
            "[recorder]\n"
            f'profile = "{recorder_profile}"\n',
            "utf-8",
        )
        env = dict(os.environ)
        if pulse is not None:
            env.update(pulse.client_env)
        kiosk = Kiosk(f"http://127.0.0.1:{port}/", port, folder / "data", config, env, folder / "kiosk.log")
        started.append(kiosk)
        kiosk.start()
        return kiosk

    yield start
    for kiosk in started:
        kiosk.stop()
