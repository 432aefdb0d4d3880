"""Does the kiosk's visible screen fit the window? One check for every screen state and size.

``assert_fits(page, where)`` measures what a visitor sees right now and fails with everything
that is wrong, named by ``where``. The rules:

- **Controls** are the visible buttons and ``[role=progressbar]`` elements outside an ``inert``
  part of the page (the screens behind the "are you still there?" overlay are inert). Visible
  means rendered, not ``visibility: hidden`` and not fully transparent: a control whose place is
  only reserved is not a control.
- Every control, and every visible picture (``img``, ``video``), lies inside the viewport
  (1 px tolerance): nothing cut off.
- No two controls overlap. The one exception: a progress ring may enclose the button it
  surrounds when both have the same parent (the ring around record/stop).
- Every button is at least 96×96 CSS px.
- The **question video** is the visible ``#prompt-video`` (on the consent screen the consent
  video). Its picture (the part ``object-fit: contain`` fills) is inside the viewport and covers at
  least a quarter of the visitor's share of the screen: the whole viewport when it is the only
  picture, half of it when the visitor's own pane (live picture, meter, playback) is beside it.
  So: area ≥ viewport / (4 × panes shown). The visitor's own pane follows the same rule.
- No control and no **caption band** (``.caption-band``, where subtitles are written) overlaps
  the question video's picture, and a caption band lies inside the viewport.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

MIN_TARGET_PX = 96
TOLERANCE_PX = 1.0

_MEASURE = """
() => {
  const box = (el) => { const r = el.getBoundingClientRect();
                        return { x: r.left, y: r.top, w: r.width, h: r.height }; };
  const seen = (el) => el.checkVisibility({ opacityProperty: true, visibilityProperty: true })
                       && !el.closest('[inert]') && el.getBoundingClientRect().width > 0;
  const name = (el) => el.getAttribute('aria-label') || el.id || el.className.baseVal
                       || el.className || el.tagName;
  // The part of a video element that shows the picture (object-fit: contain letterboxes it).
  const picture = (video) => {
    const b = box(video);
    if (!video.videoWidth || !video.videoHeight) return b;
    const scale = Math.min(b.w / video.videoWidth, b.h / video.videoHeight);
    const w = video.videoWidth * scale, h = video.videoHeight * scale;
    return { x: b.x + (b.w - w) / 2, y: b.y + (b.h - h) / 2, w, h };
  };
  const controls = [...document.querySelectorAll('button, [role=progressbar]')].filter(seen).map((el) => ({
    name: String(name(el)), box: box(el), button: el.tagName === 'BUTTON',
    ring: el.getAttribute('role') === 'progressbar', parent: el.parentElement,
  }));
  const pairs = [];
  controls.forEach((a, i) => controls.slice(i + 1).forEach((b) => {
    const ring = (a.ring || b.ring) && a.parent === b.parent;
    pairs.push({ a: a.name, b: b.name, aBox: a.box, bBox: b.box, ring });
  }));
  const pictures = [...document.querySelectorAll('#kiosk img, #kiosk video')].filter(seen)
    .map((el) => ({ name: el.id || el.getAttribute('src') || el.tagName, box: box(el) }));
  const question = ['prompt-video', 'consent-video'].map((id) => document.getElementById(id))
    .find((v) => v && seen(v));
  const own = document.getElementById('you-pane');
  const ownShown = own && seen(own);
  return {
    viewport: { w: window.innerWidth, h: window.innerHeight },
    controls: controls.map(({ name, box, button }) => ({ name, box, button })),
    pairs,
    pictures,
    question: question ? { name: question.id, box: picture(question) } : null,
    own: ownShown ? box(own) : null,
    bands: [...document.querySelectorAll('.caption-band')].filter(seen)
      .map((el) => ({ name: el.id, box: box(el) })),
  };
}
"""


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    width = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    height = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(0.0, width) * max(0.0, height)


def _encloses(outer: dict[str, float], inner: dict[str, float]) -> bool:
    return (
        outer["x"] - TOLERANCE_PX <= inner["x"]
        and outer["y"] - TOLERANCE_PX <= inner["y"]
        and inner["x"] + inner["w"] <= outer["x"] + outer["w"] + TOLERANCE_PX
        and inner["y"] + inner["h"] <= outer["y"] + outer["h"] + TOLERANCE_PX
    )


def _inside(box: dict[str, float], viewport: dict[str, float]) -> bool:
    return _encloses({"x": 0, "y": 0, "w": viewport["w"], "h": viewport["h"]}, box)


def _rounded(box: dict[str, float]) -> str:
    return f"{box['w']:.0f}×{box['h']:.0f} at ({box['x']:.0f}, {box['y']:.0f})"


def problems(page: Page) -> list[str]:
    """Everything on the visible screen that breaks the rules above (empty when it fits)."""
    m: dict[str, Any] = page.evaluate(_MEASURE)
    viewport = m["viewport"]
    found: list[str] = []
    if not m["controls"]:
        found.append("no visible control at all")
    for control in m["controls"]:
        box = control["box"]
        if not _inside(box, viewport):
            found.append(f"control {control['name']!r} is (partly) outside the viewport: {_rounded(box)}")
        if control["button"] and (box["w"] < MIN_TARGET_PX - 0.5 or box["h"] < MIN_TARGET_PX - 0.5):
            found.append(f"control {control['name']!r} is smaller than {MIN_TARGET_PX} px: {_rounded(box)}")
    for pair in m["pairs"]:
        if _overlap(pair["aBox"], pair["bBox"]) <= TOLERANCE_PX:
            continue
        if pair["ring"] and (_encloses(pair["aBox"], pair["bBox"]) or _encloses(pair["bBox"], pair["aBox"])):
            continue
        a, b = _rounded(pair["aBox"]), _rounded(pair["bBox"])
        found.append(f"controls {pair['a']!r} {a} and {pair['b']!r} {b} overlap")
    for picture in m["pictures"]:
        if not _inside(picture["box"], viewport):
            box = _rounded(picture["box"])
            found.append(f"picture {picture['name']!r} is (partly) outside the viewport: {box}")
    for band in m["bands"]:
        if not _inside(band["box"], viewport):
            found.append(f"caption band {band['name']!r} is outside the viewport: {_rounded(band['box'])}")
    question = m["question"]
    if question is not None:
        video = question["box"]
        panes = 2 if m["own"] else 1
        least = viewport["w"] * viewport["h"] / (4 * panes)
        if video["w"] * video["h"] < least:
            found.append(
                f"the question video {question['name']!r} is {_rounded(video)}: less than "
                f"a quarter of its share of the screen ({least:.0f} px², {panes} pane(s))"
            )
        if not _inside(video, viewport):
            found.append(f"the question video is outside the viewport: {_rounded(video)}")
        if m["own"] and m["own"]["w"] * m["own"]["h"] < least:
            found.append(f"the visitor's own pane is {_rounded(m['own'])}: less than {least:.0f} px²")
        for band in m["bands"]:
            if _overlap(band["box"], video) > TOLERANCE_PX:
                box = _rounded(band["box"])
                found.append(f"caption band {band['name']!r} {box} overlaps the question video")
        for control in m["controls"]:
            if _overlap(control["box"], video) > TOLERANCE_PX:
                box = _rounded(control["box"])
                found.append(f"control {control['name']!r} {box} covers the question video")
    return found


def assert_fits(page: Page, where: str) -> None:
    """Fail, naming ``where``, when the visible screen breaks any rule of this module."""
    found = problems(page)
    size = page.viewport_size
    at = f"{size['width']}×{size['height']}" if size else "?"
    assert not found, f"{where} at {at}:\n  " + "\n  ".join(found)
