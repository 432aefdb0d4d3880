"""Checks the committed default media set (media/) against its manifest."""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from playwright.sync_api import Browser

MEDIA = Path(__file__).resolve().parents[2] / "media"
MANIFEST: dict[str, Any] = json.loads((MEDIA / "manifest.json").read_text(encoding="utf-8"))
LANGS = [lang["code"] for lang in MANIFEST["languages"]]
KINDS = {"scale", "choice", "video", "voice", "open"}
TIMING = re.compile(r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2}):(\d{2}):(\d{2})\.(\d{3})(?: .*)?$")


def spoken_videos() -> Iterator[tuple[str, str, str]]:
    """(name, video path, subtitles path) for every question and kiosk video."""
    for q in MANIFEST["questions"]:
        for lang in LANGS:
            p = q["prompt"][lang]
            yield f"question {q['key']}.{lang}", p["video"], p["subtitles"]
    for key, per_lang in MANIFEST["kiosk_videos"].items():
        for lang in LANGS:
            yield f"kiosk {key}.{lang}", per_lang[lang]["video"], per_lang[lang]["subtitles"]


def audio_files() -> Iterator[str]:
    for lang in MANIFEST["languages"]:
        yield lang["spoken_name"]
    yield from MANIFEST["sounds"].values()
    for q in MANIFEST["questions"]:
        for o in q["options"]:
            yield from o["audio"].values()
    yield MANIFEST["sample_answers"]["voice"]


def referenced_files(node: Any) -> Iterator[str]:
    """Every string in the manifest that looks like a media path."""
    if isinstance(node, dict):
        for v in node.values():
            yield from referenced_files(v)
    elif isinstance(node, list):
        for v in node:
            yield from referenced_files(v)
    elif isinstance(node, str) and re.search(r"\.(mp4|m4a|vtt|svg)$", node):
        yield node


def probe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        info: dict[str, Any] = {"duration": (container.duration or 0) / av.time_base}
        for s in container.streams.video:
            info["video"] = {
                "codec": s.codec_context.name,
                "width": s.codec_context.width,
                "height": s.codec_context.height,
                "fps": float(s.average_rate or 0),
            }
        for a in container.streams.audio:
            info["audio"] = {"codec": a.codec_context.name, "rate": a.codec_context.sample_rate}
    return info


def audio_rms(path: Path) -> float:
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.append(frame.to_ndarray().astype(np.float64).ravel())
    samples = np.concatenate(chunks)
    return float(np.sqrt(np.mean(samples**2)))


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    lines = text.splitlines()
    assert lines and lines[0].startswith("WEBVTT"), "must start with WEBVTT"
    cues = []
    for i, line in enumerate(lines):
        m = TIMING.match(line)
        if not m:
            assert "-->" not in line, f"bad cue timing: {line!r}"
            continue
        g = [int(x) for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        body = []
        for following in lines[i + 1 :]:
            if not following.strip():
                break
            body.append(following)
        cues.append((start, end, "\n".join(body)))
    return cues


def test_manifest_shape() -> None:
    assert LANGS == ["nl", "en"]
    assert set(MANIFEST["kiosk_videos"]) == {"attract", "consent", "thanks", "still_there"}
    assert set(MANIFEST["sounds"]) == {"beep", "tap", "start", "stop"}
    keys = [q["key"] for q in MANIFEST["questions"]]
    assert len(keys) == len(set(keys))
    assert {"satisfaction", "staff", "visit_reason", "activity", "improve", "story"} <= set(keys)
    for q in MANIFEST["questions"]:
        assert q["kind"] in KINDS
        for lang in LANGS:
            assert q["name"][lang]
            assert q["prompt"][lang]["text"]
        values = [o["value"] for o in q["options"]]
        if q["kind"] == "scale":
            assert values == [str(i) for i in range(1, len(values) + 1)]
            assert len(values) in (3, 5)
        elif q["kind"] == "choice":
            assert len(values) >= 2 and len(values) == len(set(values))
        else:
            assert values == []
        for o in q["options"]:
            assert o["pictogram"].endswith(".svg")
            assert set(o["label"]) == set(LANGS) == set(o["audio"])


@pytest.mark.parametrize("rel", sorted(set(referenced_files(MANIFEST))))
def test_referenced_file_exists(rel: str) -> None:
    assert not Path(rel).is_absolute() and ".." not in Path(rel).parts
    path = MEDIA / rel
    assert path.is_file(), f"missing {rel}"
    assert path.stat().st_size > 0


@pytest.mark.parametrize(("name", "video", "subtitles"), list(spoken_videos()))
def test_spoken_video(name: str, video: str, subtitles: str) -> None:
    info = probe(MEDIA / video)
    assert info["video"]["codec"] == "h264"
    assert (info["video"]["width"], info["video"]["height"]) == (640, 360)
    assert info["video"]["fps"] == pytest.approx(25)
    assert info["audio"]["codec"] == "aac"
    assert 1.0 < info["duration"] < 30.0

    cues = parse_vtt((MEDIA / subtitles).read_text(encoding="utf-8"))
    assert cues, "no cues"
    previous_start = 0.0
    for start, end, text in cues:
        assert text.strip()
        assert previous_start <= start < end <= info["duration"] + 1e-3
        previous_start = start

    if video.startswith("questions/"):
        assert audio_rms(MEDIA / video) > 0.02, "question audio is (nearly) silent"


def test_prompt_text_matches_subtitles() -> None:
    for q in MANIFEST["questions"]:
        for lang in LANGS:
            p = q["prompt"][lang]
            cues = parse_vtt((MEDIA / p["subtitles"]).read_text(encoding="utf-8"))
            spoken = " ".join(" ".join(text.split()) for _, _, text in cues)
            assert spoken == p["text"]


@pytest.mark.parametrize("rel", sorted(set(audio_files())))
def test_audio_file(rel: str) -> None:
    info = probe(MEDIA / rel)
    assert "video" not in info
    assert info["audio"]["codec"] == "aac"
    assert 0.02 < info["duration"] < 10.0
    assert audio_rms(MEDIA / rel) > 0.005


def test_camera_sample() -> None:
    info = probe(MEDIA / MANIFEST["camera"])
    assert info["video"]["codec"] == "h264"
    assert (info["video"]["width"], info["video"]["height"]) == (1280, 720)
    assert info["video"]["fps"] == pytest.approx(25)
    assert 6.0 <= info["duration"] <= 10.0
    assert (MEDIA / MANIFEST["camera"]).stat().st_size < 2.5 * 1024 * 1024


def test_camera_sample_has_a_moving_shape_and_noise() -> None:
    with av.open(str(MEDIA / MANIFEST["camera"])) as container:
        frames = [f.to_ndarray(format="gray").astype(np.float64) for f in container.decode(video=0)]
    first, later = frames[0], frames[len(frames) // 2]
    moved = np.abs(first - later) > 20
    assert 0.005 < moved.mean() < 0.5, "a shape moves, the background stays"
    assert np.abs(first - frames[1]).mean() > 0.3, "mild sensor noise changes every frame"


def test_sample_answer_video() -> None:
    rel = MANIFEST["sample_answers"]["video"]
    info = probe(MEDIA / rel)
    assert info["video"]["codec"] == "h264"
    assert (info["video"]["width"], info["video"]["height"]) == (640, 360)
    assert info["audio"]["codec"] == "aac"
    assert 2.0 < info["duration"] < 10.0
    assert audio_rms(MEDIA / rel) > 0.02


def test_fast_start() -> None:
    """The moov box comes before mdat, so browsers can start playing at once."""
    for path in [*MEDIA.rglob("*.mp4"), *MEDIA.rglob("*.m4a")]:
        data = path.read_bytes()
        moov, mdat = data.find(b"moov"), data.find(b"mdat")
        assert 0 < moov < mdat, f"{path.relative_to(MEDIA)} is not fast-start"


@pytest.mark.parametrize("path", sorted(MEDIA.glob("pictograms/*.svg")), ids=lambda p: p.name)
def test_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg")


def test_every_pictogram_is_credited() -> None:
    credits = (MEDIA / "CREDITS.md").read_text(encoding="utf-8")
    assert "https://openmoji.org" in credits and "CC BY-SA 4.0" in credits
    for path in MEDIA.glob("pictograms/*.svg"):
        assert f"pictograms/{path.name}" in credits


def test_total_size() -> None:
    total = sum(p.stat().st_size for p in MEDIA.rglob("*") if p.is_file())
    assert total < 8 * 1024 * 1024, f"media/ is {total / 1e6:.1f} MB"


PLAY_JS = """async ([src, tag, subtitles]) => {
  const el = document.createElement(tag);
  el.muted = true;
  el.src = src;
  if (subtitles) {
    const track = document.createElement("track");
    track.kind = "subtitles";
    track.src = subtitles;
    track.default = true;
    el.appendChild(track);
  }
  document.body.appendChild(el);
  return await new Promise((resolve) => {
    el.onerror = () => resolve({error: el.error ? el.error.code : "unknown"});
    el.onended = () => resolve({
      duration: el.duration,
      width: el.videoWidth || 0,
      height: el.videoHeight || 0,
      cues: el.textTracks && el.textTracks.length ? el.textTracks[0].cues.length : 0,
    });
    el.play().catch((e) => resolve({error: String(e)}));
    setTimeout(() => resolve({error: "timeout"}), 20000);
  });
}"""


@pytest.mark.browser
def test_plays_in_chromium(browser: Browser) -> None:
    """Chromium plays a question video (with its subtitles), a spoken label and a UI sound."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(MEDIA))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    question = MANIFEST["questions"][0]["prompt"]["nl"]
    label = MANIFEST["questions"][0]["options"][0]["audio"]["nl"]
    page = browser.new_page()
    try:
        page.goto(f"{base}/README.md")
        video = page.evaluate(PLAY_JS, [question["video"], "video", question["subtitles"]])
        assert video.get("error") is None, video
        assert (video["width"], video["height"]) == (640, 360)
        assert video["cues"] >= 1
        for rel in (label, MANIFEST["sounds"]["beep"]):
            audio = page.evaluate(PLAY_JS, [rel, "audio", None])
            assert audio.get("error") is None, (rel, audio)
            assert audio["duration"] > 0
    finally:
        page.close()
        server.shutdown()
        server.server_close()
        thread.join()
