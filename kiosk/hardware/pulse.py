"""A private PulseAudio server with a null sink: a microphone for machines without a sound card.

Whatever is played into the null sink (``paplay -d vsink tone.wav``) comes out of its monitor
source, which is made the default source. A :class:`SoundDeviceMicrophone` on device
``"default"`` then records it through ALSA's pulse plugin, i.e. through the same PortAudio
path a real microphone uses. Tests, the benchmark and a developer's selftest use this.

The server runs in the foreground as our child process, in its own temporary directory (so
it writes nothing into the home folder), with anonymous authentication on its socket (so no
cookie has to be shared). It works as root too, where pulseaudio only warns.

An idle null sink renders on a timer of about two seconds and notices a new recording stream
only when that timer fires, so the first recording would start seconds late (a real microphone
starts at once). So silence is played into the sink for as long as the server runs, and
:meth:`PulseNullSink.start` returns only once the monitor delivers promptly.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from kiosk.hardware.microphone import refresh_sound_devices
from kiosk.hardware.synthetic import write_tone_wav

_CLIENT_ENV = ("PULSE_SERVER", "PULSE_COOKIE")


class PulseAudioError(RuntimeError):
    """The private PulseAudio server could not be started."""


class PulseNullSink:
    """Start with :meth:`start` (or ``with``); everything is undone by :meth:`stop`."""

    def __init__(self, sink_name: str = "vsink", samplerate: int = 48000, channels: int = 1) -> None:
        self.sink_name = sink_name
        self.samplerate = samplerate
        self.channels = channels
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._silence: subprocess.Popen[bytes] | None = None
        self._saved_env: dict[str, str | None] = {}

    @property
    def client_env(self) -> dict[str, str]:
        """Environment variables that point a PulseAudio client at this server."""
        if self._dir is None:
            raise PulseAudioError("the PulseAudio server is not running")
        return {
            "PULSE_SERVER": f"unix:{self._dir / 'native'}",
            "PULSE_COOKIE": str(self._dir / "cookie"),  # not ~/.config/pulse/cookie
        }

    def start(self, timeout: float = 10.0) -> None:
        if self._process is not None:
            return
        for tool in ("pulseaudio", "pactl", "paplay", "pacat", "parec"):
            if shutil.which(tool) is None:
                raise PulseAudioError(
                    f"{tool} is not installed (apt install pulseaudio pulseaudio-utils "
                    "libasound2-plugins libportaudio2)"
                )
        self._dir = Path(tempfile.mkdtemp(prefix="vertelpaal-pulse-"))
        log_path = self._dir / "pulseaudio.log"
        server_env = dict(
            os.environ,
            HOME=str(self._dir),
            XDG_RUNTIME_DIR=str(self._dir),
            XDG_CONFIG_HOME=str(self._dir / "config"),
            PULSE_RUNTIME_PATH=str(self._dir / "runtime"),
            PULSE_STATE_PATH=str(self._dir / "state"),
        )
        command = [
            "pulseaudio",
            "--daemonize=no",  # our child: we know its pid and end exactly this process
            "-n",  # no default.pa: no hardware modules, no surprises
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=no",
            "--log-target=stderr",
            f"--load=module-null-sink sink_name={self.sink_name} "
            f"rate={self.samplerate} channels={self.channels}",
            f"--load=module-native-protocol-unix auth-anonymous=1 socket={self._dir / 'native'}",
        ]
        with open(log_path, "wb") as log_file:
            self._process = subprocess.Popen(
                command, env=server_env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
            )
        atexit.register(self.stop)  # a script that dies on an exception leaves no server behind
        self._set_client_env()
        try:
            self._wait_ready(timeout)
            self._pactl("set-default-sink", self.sink_name)
            self._pactl("set-default-source", f"{self.sink_name}.monitor")
            self._keep_sink_running(timeout)
        except Exception:
            self.stop()
            raise
        _restart_portaudio()

    def stop(self) -> None:
        """Stop the server and undo the environment. Safe to call twice."""
        atexit.unregister(self.stop)
        silence, self._silence = self._silence, None
        if silence is not None:
            _end(silence)
        process, self._process = self._process, None
        if process is not None:
            _end(process)
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        if process is not None:
            _restart_portaudio()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def play(self, wav: str | Path) -> subprocess.Popen[bytes]:
        """Start playing a WAV file into the sink; the caller waits for the process."""
        return subprocess.Popen(
            ["paplay", "-d", self.sink_name, str(wav)],
            env=dict(os.environ, **self.client_env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def play_tone(self, frequency: float, seconds: float, amplitude: float = 0.5) -> subprocess.Popen[bytes]:
        """Start playing a sine tone into the sink."""
        if self._dir is None:
            raise PulseAudioError("the PulseAudio server is not running")
        wav = self._dir / f"tone-{frequency:g}Hz-{seconds:g}s-{amplitude:g}.wav"
        if not wav.exists():
            write_tone_wav(wav, frequency, seconds, self.samplerate, amplitude)
        return self.play(wav)

    def unplug(self) -> None:
        """Remove the null sink (and so its monitor, the microphone), as if the sound card were
        pulled out: what is recording from it stops; the server stays, now without any source."""
        if self._dir is None:
            raise PulseAudioError("the PulseAudio server is not running")
        modules = subprocess.run(
            ["pactl", "list", "short", "modules"],
            env=dict(os.environ, **self.client_env),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in modules.splitlines():
            number, name, *arguments = line.split("\t")
            if name == "module-null-sink" and f"sink_name={self.sink_name}" in " ".join(arguments):
                self._pactl("unload-module", number)
                return
        raise PulseAudioError(f"no null sink {self.sink_name} to unplug")

    def log_tail(self, chars: int = 2000) -> str:
        if self._dir is None:
            return ""
        try:
            return (self._dir / "pulseaudio.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _set_client_env(self) -> None:
        # Our own process is a client too: ALSA's pulse plugin inside PortAudio reads these.
        for name, value in self.client_env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                raise PulseAudioError(f"pulseaudio exited at start:\n{self.log_tail()}")
            if subprocess.run(["pactl", "info"], capture_output=True, check=False).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PulseAudioError(f"pulseaudio did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def _keep_sink_running(self, timeout: float) -> None:
        fmt = ["--format=s16le", f"--rate={self.samplerate}", f"--channels={self.channels}"]
        self._silence = subprocess.Popen(
            ["pacat", "--playback", "-d", self.sink_name, "--latency-msec=20", *fmt, "/dev/zero"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Wait for the sink to wake up: until a recording of its monitor gets sound.
        with subprocess.Popen(
            ["parec", "-d", f"{self.sink_name}.monitor", "--latency-msec=20", *fmt],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as probe:
            try:
                assert probe.stdout is not None
                ready, _, _ = select.select([probe.stdout], [], [], timeout)
                if not ready or not probe.stdout.read(1):
                    raise PulseAudioError(f"the null sink gave no sound within {timeout:.0f} s")
            finally:
                probe.terminate()

    def _pactl(self, *args: str) -> None:
        done = subprocess.run(
            ["pactl", *args],
            env=dict(os.environ, **self.client_env),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise PulseAudioError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _restart_portaudio() -> None:
    """Make an already started PortAudio see the server that came or went.

    PortAudio lists ALSA devices once, when sounddevice is imported; if that happened before
    this server existed, "default" would still point at nothing.
    """
    refresh_sound_devices()
