"""The microphone, recording a tone from a PulseAudio null sink through PortAudio."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import numpy as np
import pytest

from kiosk.hardware.clock import now
from kiosk.hardware.microphone import (
    AudioBlock,
    MicrophoneError,
    SoundDeviceMicrophone,
    list_input_devices,
)
from kiosk.hardware.pulse import PulseNullSink

pytestmark = pytest.mark.audio

PlayTone = Callable[[float, float], subprocess.Popen[bytes]]  # the play_tone fixture


def peak_frequency(samples: np.ndarray, samplerate: int) -> float:
    samples = samples.reshape(-1).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / samplerate)[np.argmax(spectrum)])


@pytest.mark.parametrize("frequency", [440.0, 1000.0])
def test_microphone_hears_the_tone(
    microphone: SoundDeviceMicrophone, play_tone: PlayTone, frequency: float
) -> None:
    play_tone(frequency, 3.0)  # plays on past the recording, however late it starts
    time.sleep(0.25)  # past paplay's start-up
    samples = microphone.record(1.0)
    assert samples.shape == (48000, 1) and samples.dtype == np.float32
    assert abs(peak_frequency(samples, 48000) - frequency) < 3
    assert 0.3 < float(np.abs(samples).max()) < 0.6  # the tone's amplitude is 0.5
    assert microphone.level > 0.8  # about -9 dBFS on a 60 dB meter


def test_blocks_are_stamped_on_the_shared_clock(microphone: SoundDeviceMicrophone) -> None:
    blocks: list[AudioBlock] = []
    time.sleep(0.3)  # the first blocks of a stream come in bursts that settle the anchor
    microphone.add_listener(blocks.append)
    time.sleep(1.0)
    microphone.remove_listener(blocks.append)
    assert len(blocks) >= 40  # 20 ms blocks
    starts = np.array([b.timestamp for b in blocks])
    ends = starts + np.array([b.duration for b in blocks])
    # Consecutive: each block starts where the previous ended (anchor nudges are tiny).
    assert np.abs(starts[1:] - ends[:-1]).max() < 0.005
    # Current: the newest sound was captured moments ago, not seconds.
    assert 0 <= now() - ends[-1] < 1.2


def test_int16_blocks(pulse: PulseNullSink, play_tone: PlayTone) -> None:
    with SoundDeviceMicrophone("default", dtype="int16") as mic:
        play_tone(1000, 1.0)
        time.sleep(0.25)
        samples = mic.record(0.5)
    assert samples.dtype == np.int16
    assert 10000 < int(np.abs(samples).max()) < 20000
    assert abs(peak_frequency(samples, 48000) - 1000) < 3


def test_close_twice_and_silence_after_stop(pulse: PulseNullSink) -> None:
    mic = SoundDeviceMicrophone("default")
    mic.start()
    assert mic.read(timeout=1.0) is not None
    mic.close()
    mic.close()
    assert not mic.running and mic.level == 0.0
    assert mic.read(timeout=0.1) is None
    with pytest.raises(MicrophoneError, match="closed"):
        mic.start()


def test_bad_devices_give_clear_errors(pulse: PulseNullSink) -> None:
    with pytest.raises(MicrophoneError, match="cannot open microphone 'no such microphone'"):
        SoundDeviceMicrophone("no such microphone").start()
    with pytest.raises(MicrophoneError, match="cannot open microphone"):
        SoundDeviceMicrophone(999).start()


def test_list_input_devices(pulse: PulseNullSink) -> None:
    devices = list_input_devices()
    assert any(d.name == "default" for d in devices)
    assert all(d.channels > 0 for d in devices)
    assert sum(d.is_default for d in devices) == 1
