"""Memory of checking an oversized upload: decoding first (as before #13) against the header check.

Makes a short H.264 video (default 3840×2160, a phone's 4K; ``--size 8192x8192`` for the case
found in #13) and a PNG claiming 30000×30000 pixels, then measures the peak resident memory of a
fresh Python process that (a) opens the video and decodes one frame, as the old check did, and
(b) runs today's ``check_path`` on it, which refuses from the header. Each in its own process, so
the peak (VmHWM, reset after the imports) is that check's (the baseline: the process at rest).

    .venv/bin/python bench/bench_media_dimensions.py [--size WxH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys
from pathlib import Path
import av
from admin import create_app
from admin.mediafiles.operations import Expect, check_path
from admin.mediacheck import BadMedia
mode, path = sys.argv[1], Path(sys.argv[2])
app = create_app({"ENVIRON": {"VERTELPAAL_ENV": "development"}, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
outcome = "-"
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak from here on: the check's, not the imports'
with app.test_request_context(headers={"Accept-Language": "en"}):
    if mode == "decode":
        with av.open(str(path)) as container:
            frame = next(container.decode(container.streams.video[0]))
            outcome = f"decoded {frame.width}x{frame.height}"
    elif mode in ("video", "picture"):
        try:
            check_path(path, Expect.VIDEO if mode == "video" else Expect.PICTOGRAM)
            outcome = "accepted"
        except BadMedia as exc:
            outcome = f"refused: {exc}"
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
print(int(peak) // 1024, outcome)
"""


def peak_mb(mode: str, path: Path) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True, check=True
    )
    megabytes, outcome = result.stdout.strip().split(" ", 1)
    return int(megabytes), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3840x2160")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.*, when run as a script
    from kiosk.hardware.synthetic import write_test_video
    from tests.admin.test_security_dimensions import png_claiming

    with tempfile.TemporaryDirectory() as scratch:
        video = write_test_video(Path(scratch) / "big.mp4", 0.2, width, height, 25, noise_sigma=0.0, crf=40)
        picture = Path(scratch) / "big.png"
        picture.write_bytes(png_claiming(30000, 30000))
        rows = [
            ("baseline (interpreter, app, PyAV)", *peak_mb("none", video)),
            (f"decode one {width}x{height} frame (before)", *peak_mb("decode", video)),
            (f"check_path of the {width}x{height} video (now)", *peak_mb("video", video)),
            (
                f"check_path of a {picture.stat().st_size // 1024} KB 30000x30000 PNG",
                *peak_mb("picture", picture),
            ),
        ]
    for name, megabytes, outcome in rows:
        print(f"{name:<52} {megabytes:>6} MB peak  {outcome[:90]}")


if __name__ == "__main__":
    main()
