"""The recorder: real encoding with PyAV, checked by opening the files with PyAV again."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from kiosk.hardware.camera import FileCamera
from kiosk.hardware.microphone import SoundDeviceMicrophone
from kiosk.hardware.pulse import PulseNullSink
from kiosk.hardware.recorder import (
    EncoderSettings,
    Recorder,
    RecorderError,
    RecorderState,
    RecordingResult,
)


def top_level_boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level MP4 box."""
    boxes = []
    position = 0
    while position + 8 <= len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[position + 8 : position + 16], "big")
        elif size == 0:
            size = len(data) - position
        boxes.append((kind, position, size))
        position += size
    return boxes


@dataclass
class Decoded:
    codecs: dict[str, str]  # stream type → codec name
    start: dict[str, float]  # stream type → start time (s)
    frames: list[np.ndarray]  # luma planes
    frame_times: list[float]
    keyframes: int
    audio: np.ndarray  # mono float32
    audio_start: float
    samplerate: int
    error: str | None  # what stopped decoding early (a cut file)

    @property
    def video_duration(self) -> float:
        return self.frame_times[-1] + 0.04 if self.frame_times else 0.0

    @property
    def audio_duration(self) -> float:
        return len(self.audio) / self.samplerate if self.samplerate else 0.0


def decode(path: Path, keep_frames: bool = False) -> Decoded:
    frames: list[np.ndarray] = []
    times: list[float] = []
    audio: list[np.ndarray] = []
    audio_start, samplerate, keyframes, error = 0.0, 0, 0, None
    codecs: dict[str, str] = {}
    start: dict[str, float] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            codecs[stream.type] = stream.codec_context.name
            start[stream.type] = float((stream.start_time or 0) * (stream.time_base or 1))
        try:
            for packet in container.demux():
                if packet.stream.type == "video" and packet.is_keyframe:
                    keyframes += 1
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        times.append(frame.time or 0.0)
                        if keep_frames:
                            frames.append(frame.to_ndarray(format="gray"))
                    elif isinstance(frame, av.AudioFrame):
                        if not audio:
                            audio_start = frame.time or 0.0
                        samplerate = frame.sample_rate
                        audio.append(frame.to_ndarray()[0])
        except av.FFmpegError as exc:
            error = str(exc)
    samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
    return Decoded(codecs, start, frames, times, keyframes, samples, audio_start, samplerate, error)


def peak_frequency(samples: np.ndarray, samplerate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / samplerate)[np.argmax(spectrum)])


@dataclass
class LiveRecording:
    result: RecordingResult
    started: float  # the moment start() was called
    stop_took: float


@pytest.fixture(scope="module")
def av_recording(
    pulse: PulseNullSink, test_video: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveRecording]:
    """Four seconds from the file camera and the null-sink microphone, with a 1 kHz tone."""
    path = tmp_path_factory.mktemp("recordings") / "answer.mp4"
    with FileCamera(test_video) as camera, SoundDeviceMicrophone("default") as microphone:
        tone = pulse.play_tone(1000, 6.0)
        try:
            time.sleep(0.5)  # camera and sound running, as while the question plays
            recorder = Recorder(path, camera=camera, microphone=microphone)
            started = time.monotonic()
            recorder.start()
            time.sleep(4.0)
            stopping = time.monotonic()
            result = recorder.stop()
            stop_took = time.monotonic() - stopping
        finally:
            tone.terminate()
            tone.wait(5)
    yield LiveRecording(result, started, stop_took)


@pytest.mark.audio
def test_video_answer_is_h264_and_aac_in_fragmented_mp4(av_recording: LiveRecording) -> None:
    result = av_recording.result
    path = result.path
    assert path.exists() and not path.with_name(path.name + ".part").exists()
    data = path.read_bytes()
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()

    kinds = [kind for kind, _, _ in top_level_boxes(data)]
    assert kinds[:2] == ["ftyp", "moov"]
    assert kinds.count("moof") >= 4, f"not fragmented once a second: {kinds}"

    decoded = decode(path)
    assert decoded.error is None
    assert decoded.codecs == {"video": "h264", "audio": "aac"}
    assert abs(decoded.video_duration - 4.0) <= 0.5
    assert abs(decoded.audio_duration - 4.0) <= 0.5
    assert abs(result.duration - 4.0) <= 0.5
    assert 4 <= decoded.keyframes <= 6  # one a second
    assert abs(peak_frequency(decoded.audio[48000:96000], 48000) - 1000) < 3


@pytest.mark.audio
def test_video_answer_starts_in_sync_and_on_time(av_recording: LiveRecording) -> None:
    result = av_recording.result
    decoded = decode(result.path)
    assert abs(decoded.start["video"] - decoded.start["audio"]) <= 0.040
    assert abs(decoded.frame_times[0] - decoded.audio_start) <= 0.040
    assert result.first_frame_latency is not None
    assert 0 <= result.first_frame_latency <= 0.150
    # The microphone was running before the tap, so its sound was cut at the first picture.
    assert result.audio_start_gap is not None and result.audio_start_gap <= 0.040
    assert av_recording.stop_took < 2.0


@pytest.mark.audio
def test_a_cut_file_plays_up_to_its_last_fragment(av_recording: LiveRecording, tmp_path: Path) -> None:
    data = av_recording.result.path.read_bytes()
    fragments = [(offset, size) for kind, offset, size in top_level_boxes(data) if kind == "moof"]
    # Cut in the middle of the third fragment's media, as a power loss would.
    third_mdat = fragments[2][0] + fragments[2][1]
    cut = third_mdat + (fragments[3][0] - third_mdat) // 2
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[:cut])

    decoded = decode(truncated)
    whole = decode(av_recording.result.path)
    # A fragment is one keyframe interval of 25 frames. Frames carry the camera's capture times (on a
    # busy machine fewer than 25 come in a second), so the fragments are checked by frames: the
    # first two whole, frame for frame as in the uncut file.
    assert 50 <= len(decoded.frame_times) < 75, "two whole fragments must play"
    assert decoded.frame_times == whole.frame_times[: len(decoded.frame_times)]
    assert decoded.audio_duration >= 1.9


def test_pictures_and_sound_stay_in_sync(tmp_path: Path) -> None:
    """A flash and a beep captured at the same moment play at the same moment."""
    settings = EncoderSettings(width=320, height=180, fps=25)
    path = tmp_path / "sync.mp4"
    base, flash_at = 500.0, 2.0
    dark = np.full((180, 320, 3), 30, np.uint8)
    white = np.full((180, 320, 3), 230, np.uint8)
    rate, block = 48000, 960
    recorder = Recorder(path, video=True, audio=True, settings=settings)
    recorder.start()
    # Sound from before the first picture, in blocks that do not line up with it: it must be
    # cut at the first picture, to the sample, not shift the track.
    sound_time = base - 0.291
    for index in range(75):
        t = base + index / 25
        assert recorder.push_frame(white if index == 50 else dark, t)
        while sound_time < t + 0.04:
            samples = np.zeros(block, np.float32)
            since_flash = sound_time + np.arange(block) / rate - (base + flash_at)
            beep = (since_flash >= 0) & (since_flash < 0.1)
            samples[beep] = 0.8 * np.sin(2 * np.pi * 1000 * since_flash[beep])
            recorder.push_audio(samples[:, None], sound_time)
            sound_time += block / rate
    result = recorder.stop()
    assert result.video_frames == 75 and result.dropped_frames == 0

    decoded = decode(path, keep_frames=True)
    assert decoded.start["video"] == decoded.start["audio"] == 0.0
    flash = next(t for f, t in zip(decoded.frames, decoded.frame_times, strict=True) if f.mean() > 128)
    loud = np.nonzero(np.abs(decoded.audio) > 0.4)[0]
    beep = decoded.audio_start + loud[0] / decoded.samplerate
    # Both tracks sit 21 ms in, after the AAC priming (the first picture is held from zero).
    assert flash == pytest.approx(flash_at + 1024 / 48000, abs=0.001)
    # Exact timestamps in, so exact sync out (the budget for live capture is 40 ms).
    assert abs(beep - flash) <= 0.002, f"sound {1000 * (beep - flash):+.1f} ms off the picture"


def test_maximum_length_stops_the_recording(test_video: Path, tmp_path: Path) -> None:
    finished: list[Recorder] = []
    with FileCamera(test_video) as camera:
        recorder = Recorder(
            tmp_path / "long.mp4", camera=camera, max_seconds=1.0, on_finished=finished.append
        )
        recorder.start()
        assert recorder.wait(5.0), "the recording did not stop at its maximum length"
        assert camera.running, "a camera that was running before must keep running"
    assert finished == [recorder]
    assert recorder.state is RecorderState.FINISHED
    result = recorder.stop()  # after the fact: the same result
    assert result is recorder.result
    assert result.stopped_by == "max_length"
    assert abs(result.duration - 1.0) <= 0.1
    decoded = decode(result.path)
    assert decoded.codecs == {"video": "h264"}
    assert 23 <= len(decoded.frame_times) <= 26


def test_abort_leaves_nothing_behind(test_video: Path, tmp_path: Path) -> None:
    camera = FileCamera(test_video)  # not started: the recorder starts and stops it
    recorder = Recorder(tmp_path / "thrown-away.mp4", camera=camera)
    recorder.start()
    time.sleep(0.5)
    assert recorder.temp_path.exists() and recorder.elapsed > 0
    recorder.abort()
    assert recorder.state is RecorderState.ABORTED
    assert list(tmp_path.iterdir()) == []
    assert not camera.running
    with pytest.raises(RecorderError, match="thrown away"):
        recorder.stop()
    recorder.close()
    recorder.close()


def test_leaving_the_with_block_without_stop_aborts(test_video: Path, tmp_path: Path) -> None:
    with FileCamera(test_video) as camera, Recorder(tmp_path / "a.mp4", camera=camera) as recorder:
        recorder.start()
        time.sleep(0.2)
    assert recorder.state is RecorderState.ABORTED
    assert list(tmp_path.iterdir()) == []


@pytest.mark.audio
def test_voice_answer_is_aac_in_fragmented_mp4(
    microphone: SoundDeviceMicrophone, pulse: PulseNullSink, tmp_path: Path
) -> None:
    path = tmp_path / "voice.m4a"
    tone = pulse.play_tone(1000, 3.0)
    try:
        time.sleep(0.2)
        recorder = Recorder(path, microphone=microphone)
        recorder.start()
        time.sleep(2.5)
        result = recorder.stop()
    finally:
        tone.terminate()
        tone.wait(5)
    assert result.video_frames == 0 and result.first_frame_latency is None
    assert top_level_boxes(path.read_bytes())[1][0] == "moov"
    assert [k for k, _, _ in top_level_boxes(path.read_bytes())].count("moof") >= 2
    decoded = decode(path)
    assert decoded.error is None
    assert decoded.codecs == {"audio": "aac"}
    assert abs(decoded.audio_duration - 2.5) <= 0.5
    assert abs(peak_frequency(decoded.audio[24000:72000], 48000) - 1000) < 3


def test_stop_and_close_from_other_threads(test_video: Path, tmp_path: Path) -> None:
    with FileCamera(test_video) as camera:
        recorder = Recorder(tmp_path / "threads.mp4", camera=camera)
        recorder.start()
        time.sleep(0.5)
        results: list[RecordingResult] = []
        stoppers = [threading.Thread(target=lambda: results.append(recorder.stop())) for _ in range(3)]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(10)
        closer = threading.Thread(target=recorder.close)
        closer.start()
        closer.join(10)
    assert len(results) == 3 and results[0] is results[1] is results[2]
    assert results[0].path.exists(), "close after stop must keep the finished file"
    assert 0.3 <= results[0].duration <= 0.8
    recorder.close()


def test_start_problems_are_clear(test_video: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="video, audio or both"):
        Recorder(tmp_path / "nothing.mp4")
    missing_dir = tmp_path / "no" / "such" / "dir" / "a.mp4"
    recorder = Recorder(missing_dir, camera=FileCamera(test_video))
    with pytest.raises(RecorderError, match=r"cannot start recording a\.mp4"):
        recorder.start()
    assert recorder.state is RecorderState.FAILED
    assert not recorder.camera or not recorder.camera.running

    with Recorder(tmp_path / "once.mp4", video=True) as once:
        once.start()
        with pytest.raises(RecorderError, match="make a new one"):
            once.start()
        with pytest.raises(RecorderError, match="no picture was recorded"):
            once.stop()
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(RecorderError, match="not started"):
        Recorder(tmp_path / "never.mp4", video=True).stop()


def test_recording_into_a_full_disk_fails_cleanly(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.fail("/dev/full is missing")
    target = tmp_path / "full.mp4"
    target.with_name(target.name + ".part").symlink_to("/dev/full")
    recorder = Recorder(target, video=True, settings=EncoderSettings(width=320, height=180))
    recorder.start()
    image = np.zeros((180, 320, 3), np.uint8)
    for index in range(60):
        if not recorder.push_frame(image, index / 25):
            break
    with pytest.raises(RecorderError, match="failed"):
        recorder.stop()
    assert recorder.state is RecorderState.FAILED
    assert not target.exists() and not recorder.temp_path.exists()
