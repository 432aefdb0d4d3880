"""The kiosk's hardware: camera, microphone, the recorder that encodes answers, a self-test.

Each part sits behind a small base class with real implementations and stand-ins chosen by
configuration (a video file for the camera, a PulseAudio null sink for the microphone), so
the same code runs on a Raspberry Pi and on a machine without camera or sound card. Importing
this package touches no device; :meth:`start` does.
"""

from kiosk.hardware.camera import (
    Camera,
    CameraError,
    FileCamera,
    Frame,
    OpenCVCamera,
    Picamera2Camera,
    open_camera,
)
from kiosk.hardware.clock import now
from kiosk.hardware.microphone import (
    AudioBlock,
    InputDevice,
    Microphone,
    MicrophoneError,
    SoundDeviceMicrophone,
    list_input_devices,
)
from kiosk.hardware.recorder import (
    EncoderSettings,
    Mp4Writer,
    Recorder,
    RecorderError,
    RecorderState,
    RecordingResult,
)
from kiosk.hardware.selftest import Check, SelftestReport, run_selftest

__all__ = [
    "AudioBlock",
    "Camera",
    "CameraError",
    "Check",
    "EncoderSettings",
    "FileCamera",
    "Frame",
    "InputDevice",
    "Microphone",
    "MicrophoneError",
    "Mp4Writer",
    "OpenCVCamera",
    "Picamera2Camera",
    "Recorder",
    "RecorderError",
    "RecorderState",
    "RecordingResult",
    "SelftestReport",
    "SoundDeviceMicrophone",
    "list_input_devices",
    "now",
    "open_camera",
    "run_selftest",
]
