"""The kiosk's settings, read from a TOML file. Every setting has a documented default.

A wrong file stops start-up with a message that names the setting and says what is expected.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_QUESTION_SET = Path(__file__).resolve().parents[1] / "media"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class CameraConfig:
    source: str = "0"  # device index, a video file, an rtsp:// or http:// URL, or "picamera2"
    width: int = 1280
    height: int = 720
    fps: int = 25


@dataclass(frozen=True)
class MicrophoneConfig:
    device: str = "default"  # a sounddevice name or index
    samplerate: int = 48000


@dataclass(frozen=True)
class DeviceCheckConfig:
    # How often camera and microphone are checked while nobody uses them (also at start, and a
    # few seconds after one failed). A check opens a device for about a second at most.
    check_seconds: float = 300.0


@dataclass(frozen=True)
class TimeoutConfig:
    idle_seconds: float = 45.0  # no touch for this long → "are you still there?"
    still_there_seconds: float = 15.0  # then this long to answer before the kiosk resets
    max_answer_seconds: float = 60.0  # the longest video or voice answer


@dataclass(frozen=True)
class SyncConfig:
    interval_seconds: float = 10.0  # pause between sync rounds after one that went well
    max_backoff_seconds: float = 300.0  # longest wait after failures (exponential, with jitter)
    upload_chunk_kb: int = 1024  # bytes per tus PATCH, in KiB: what a cut connection may cost again


@dataclass(frozen=True)
class RecorderConfig:
    # "auto": measured at start (kiosk.hardware.profiles); or a profile's name to force it, such
    # as "720p-veryfast", "540p-superfast", "360p-ultrafast" or "720p-h264_v4l2m2m".
    profile: str = "auto"


@dataclass(frozen=True)
class KioskConfig:
    data_dir: Path = Path("/var/lib/vertelpaal")  # outbox database and recordings
    question_set: Path = DEFAULT_QUESTION_SET  # used until the server sends questions
    host: str = "127.0.0.1"
    port: int = 8080
    server_url: str = ""  # the admin server; empty: the kiosk works alone
    languages: tuple[str, ...] = ("nl", "en")
    free_space_mb: int = 500  # below this, video and voice answers are not offered
    camera: CameraConfig = field(default_factory=CameraConfig)
    microphone: MicrophoneConfig = field(default_factory=MicrophoneConfig)
    devices: DeviceCheckConfig = field(default_factory=DeviceCheckConfig)
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    recorder: RecorderConfig = field(default_factory=RecorderConfig)

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"


_SECTIONS = {
    "camera": CameraConfig,
    "microphone": MicrophoneConfig,
    "devices": DeviceCheckConfig,
    "timeouts": TimeoutConfig,
    "sync": SyncConfig,
    "recorder": RecorderConfig,
}


def load(path: str | Path) -> KioskConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: the kiosk configuration file does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return from_mapping(raw, base=path.parent, source=str(path))


def from_mapping(raw: dict[str, Any], base: Path = Path("."), source: str = "config") -> KioskConfig:
    raw = dict(raw)
    values: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        values[name] = _section(cls, raw.pop(name, {}), f"{source}: [{name}]")
    top = {f.name: f for f in fields(KioskConfig) if f.name not in _SECTIONS}
    for key, value in raw.items():
        if key not in top:
            raise ConfigError(f"{source}: unknown setting {key!r} (known: {', '.join(sorted(top))})")
        values[key] = _convert(top[key].type, value, f"{source}: {key}")
    for key in ("data_dir", "question_set"):
        if key in values and not values[key].is_absolute():
            values[key] = (base / values[key]).resolve()
    config = KioskConfig(**values)
    _check(config, source)
    return config


def _section(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
    return cls(**{k: _convert(known[k].type, v, f"{where} {k}") for k, v in raw.items()})


def _convert(type_name: Any, value: Any, where: str) -> Any:
    expected = str(type_name)
    if expected == "Path":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a folder path")
        return Path(value)
    if expected.startswith("tuple"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(f'{where} must be a list of language codes, like ["nl", "en"]')
        return tuple(value)
    if expected == "str":
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # camera = 0 and device = 2 are fine as numbers
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be text")
        return value
    if expected == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where} must be a whole number")
        return value
    if expected == "float":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{where} must be a number")
        return float(value)
    raise AssertionError(f"no conversion for {expected}")


def _check(config: KioskConfig, source: str) -> None:
    problems = []
    if not (1 <= config.port <= 65535):
        problems.append("port must be between 1 and 65535")
    if config.free_space_mb < 0:
        problems.append("free_space_mb cannot be negative")
    if config.timeouts.idle_seconds < 5 or config.timeouts.still_there_seconds < 3:
        problems.append("[timeouts] idle_seconds must be ≥ 5 and still_there_seconds ≥ 3")
    if not 3 <= config.timeouts.max_answer_seconds <= 600:
        problems.append("[timeouts] max_answer_seconds must be between 3 and 600")
    if not (1 <= config.devices.check_seconds <= 86400):
        problems.append("[devices] check_seconds must be between 1 and 86400")
    if not (0.1 <= config.sync.interval_seconds <= 86400):
        problems.append("[sync] interval_seconds must be between 0.1 and 86400")
    if not (1 <= config.sync.max_backoff_seconds <= 86400):
        problems.append("[sync] max_backoff_seconds must be between 1 and 86400")
    if not (16 <= config.sync.upload_chunk_kb <= 64 * 1024):
        problems.append("[sync] upload_chunk_kb must be between 16 and 65536")
    if config.server_url and not config.server_url.startswith(("http://", "https://")):
        problems.append("server_url must start with https:// (or http:// for a test)")
    if config.recorder.profile != "auto":
        from kiosk.hardware.profiles import KNOWN  # loads the encoders: only when a profile is forced

        if config.recorder.profile not in KNOWN:
            problems.append(f"[recorder] profile must be auto or one of: {', '.join(KNOWN)}")
    if not (config.question_set / "manifest.json").is_file():
        problems.append(f"question_set {config.question_set} holds no manifest.json")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
