"""Real parts for the hardware tests on a machine without camera or sound card.

* The camera is a generated talking-head video played through the real ``cv2.VideoCapture``.
* The microphone is a private PulseAudio server with a null sink: a tone played into the sink
  with ``paplay`` is what ``SoundDeviceMicrophone("default")`` records, through PortAudio and
  ALSA's pulse plugin. When PulseAudio cannot start, the tests that need it FAIL instead of
  being skipped: CI must never pass without having heard anything. Such tests carry
  ``@pytest.mark.audio``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.hardware.microphone import SoundDeviceMicrophone
from kiosk.hardware.pulse import PulseNullSink
from kiosk.hardware.synthetic import write_test_video


@pytest.fixture(scope="session")
def test_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s, 1280×720, 25 fps talking-head H.264 file."""
    return write_test_video(tmp_path_factory.mktemp("video") / "talking-head.mp4", seconds=4.0)


@pytest.fixture(scope="session")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small 0.6 s clip, for tests that must see the file camera loop."""
    path = tmp_path_factory.mktemp("video") / "short.mp4"
    return write_test_video(path, seconds=0.6, width=320, height=180)


@pytest.fixture
def microphone(pulse: PulseNullSink) -> Iterator[SoundDeviceMicrophone]:
    """A started microphone on the default device, i.e. the null sink's monitor."""
    with SoundDeviceMicrophone("default") as mic:
        yield mic
