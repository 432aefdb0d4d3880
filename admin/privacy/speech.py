"""The parent-or-carer question, spoken: eSpeak NG reads the library's own wording.

The kiosk plays this for visitors who cannot read it; it is made again whenever the wording
changes, so what is said is always what is written.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av

# eSpeak NG voice per language the admin pages offer; others fall back to the language code.
VOICES = {"nl": "nl", "en": "en-gb", "de": "de", "ar": "ar", "tr": "tr", "pl": "pl", "uk": "uk", "fa": "fa"}
WORDS_PER_MINUTE = 145  # as the built-in question videos (media/make_media.py)


class SpeechError(RuntimeError):
    pass


def speak_to_file(text: str, language: str, workdir: Path) -> Path:
    """An AAC (.m4a) file of ``text`` spoken in ``language``."""
    wav = workdir / "speech.wav"
    try:
        # The text goes in on stdin: wording that starts with "-" is never read as an option.
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                VOICES.get(language, language),
                "-s",
                str(WORDS_PER_MINUTE),
                "--stdin",
                "-w",
                str(wav),
            ],
            input=text.encode(),
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise SpeechError(f"espeak-ng could not speak the text: {error}") from error
    target = workdir / "speech.m4a"
    with av.open(str(wav)) as source, av.open(str(target), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=22050, layout="mono")
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=22050)
        for frame in source.decode(audio=0):
            for resampled in resampler.resample(frame):
                out.mux(stream.encode(resampled))
        for resampled in resampler.resample(None):
            out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
    return target
