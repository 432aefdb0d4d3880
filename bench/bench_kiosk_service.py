"""The kiosk service and page: touch → next screen painted in Chromium, and memory while recording.

* Touch → painted: a visitor walks the page in Debian's Chromium, on the Raspberry Pi's 800×480
  touch display and on a 1920×1080 screen; for every touch the
  page records the time from the pointer event to the second animation frame after the screen
  changed (the frame that shows it). Baseline: the same measurement on a bare page whose button
  only toggles a block, in the same browser — the ratio is what our page adds.
* Memory: peak RSS of the kiosk service process while it records a 10 s video answer (camera =
  the sample video, microphone = a PulseAudio null sink), beside its RSS when idle; and the same
  for an enrolled kiosk, whose recordings are sealed to the server's public key (its synced
  configuration is written as the sync service would leave it; no server is needed to record).
Budgets (docs/budgets.md): touch → painted p95 ≤ 50 ms; service memory while recording ≤ 200 MB RSS.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mediaseal  # noqa: E402
from kiosk.hardware.pulse import PulseNullSink  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.kiosk_process import Kiosk  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.sealing import write_synced_config  # noqa: E402

CAMERA = ROOT / "media" / "sample" / "camera.mp4"
TAPS = 40
SCREENS = ((800, 480), (1920, 1080))

# Records pointerdown → second animation frame after the first DOM change it caused.
PROBE = """
window.__taps = [];
let started = null;
document.addEventListener('pointerdown', () => { started = performance.now(); }, true);
new MutationObserver(() => {
  if (started === null) return;
  const t0 = started; started = null;
  requestAnimationFrame(() => requestAnimationFrame(() => window.__taps.push(performance.now() - t0)));
}).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
"""

BARE_PAGE = """<!doctype html><html><body><button id=b style="width:200px;height:200px">x</button>
<div id=d style="width:300px;height:300px;background:#036"></div></body></html>"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_kiosk(folder: Path, env: dict[str, str], server_url: str = "") -> Kiosk:
    port = free_port()
    config = folder / "kiosk.toml"
    config.write_text(
        f'data_dir = "{folder / "data"}"\nport = {port}\nlanguages = ["nl"]\nserver_url = "{server_url}"\n'
        f'[camera]\nsource = "{CAMERA}"\n[timeouts]\nidle_seconds = 600\n'
    )
    kiosk = Kiosk(f"http://127.0.0.1:{port}/", port, folder / "data", config, env, folder / "kiosk.log")
    kiosk.start()
    return kiosk


def enrolled_kiosk(folder: Path, env: dict[str, str]) -> Kiosk:
    """A kiosk that has synced a configuration with the server's sealing key (nothing listens at
    its server_url: recording needs no server)."""
    write_synced_config(folder / "data")
    return start_kiosk(folder, env, server_url=f"http://127.0.0.1:{free_port()}")


def kiosk_taps(page: Page, kiosk: Kiosk) -> list[float]:
    page.goto(kiosk.url)
    page.wait_for_selector("body[data-screen=attract]")
    page.evaluate(PROBE)
    while len(page.evaluate("window.__taps")) < TAPS:
        visitor_walk(page)
    return list(page.evaluate("window.__taps"))


def visitor_walk(page: Page) -> None:
    """One visitor, four touches: attract, consent "no", the two tap questions; back to attract."""
    page.locator("#attract-video").click()  # attract → consent
    page.wait_for_selector("body[data-screen=consent]")
    page.get_by_role("button", name="Nee, liever niet").click()
    for _ in range(2):  # the two tap questions; answering shows the next screen
        page.wait_for_selector("#options button:not([disabled])")
        page.locator("#options button").first.click()
    page.wait_for_selector("body[data-screen=thanks]")
    page.evaluate("document.getElementById('thanks-video').dispatchEvent(new Event('ended'))")
    page.wait_for_selector("body[data-screen=attract]")


def bare_taps(page: Page) -> list[float]:
    page.set_content(BARE_PAGE)
    page.evaluate(
        "document.getElementById('b').onpointerdown = () => "
        "{ const d = document.getElementById('d'); d.hidden = !d.hidden; }"
    )
    page.evaluate(PROBE)
    for _ in range(TAPS):
        page.locator("#b").click()
        time.sleep(0.05)
    return list(page.evaluate("window.__taps"))


def recording_memory(kiosk: Kiosk) -> tuple[float, float]:
    idle = rss_mb(kiosk.process.pid)
    base = kiosk.url.rstrip("/")
    session = requests.post(
        f"{base}/api/sessions", json={"language": "nl", "consent": True}, timeout=10
    ).json()
    started = requests.post(
        f"{base}/api/recordings", json={"session": session["uuid"], "kind": "video"}, timeout=10
    )
    started.raise_for_status()
    peak = idle
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        peak = max(peak, rss_mb(kiosk.process.pid))
        time.sleep(0.1)
    requests.post(f"{base}/api/recordings/{started.json()['uuid']}/stop", timeout=30).raise_for_status()
    return idle, max(peak, rss_mb(kiosk.process.pid))


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="vertelpaal-bench-kiosk-"))
    with PulseNullSink() as sink:
        kiosk = start_kiosk(folder, dict(os.environ, **sink.client_env))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                ours: dict[tuple[int, int], list[float]] = {}
                for width, height in SCREENS:
                    page = browser.new_page(
                        viewport={"width": width, "height": height}, reduced_motion="reduce"
                    )
                    ours[width, height] = kiosk_taps(page, kiosk)
                    page.close()
                bare = bare_taps(browser.new_page())
                browser.close()
            idle, peak = recording_memory(kiosk)
        finally:
            kiosk.stop()
        (folder / "enrolled").mkdir()
        enrolled = enrolled_kiosk(folder / "enrolled", dict(os.environ, **sink.client_env))
        try:
            sealed_idle, sealed_peak = recording_memory(enrolled)
            sealed_files = [mediaseal.file_is_sealed(p) for p in enrolled.recordings_dir.iterdir()]
            assert sealed_files and all(sealed_files), "the enrolled kiosk did not seal its recording"
        finally:
            enrolled.stop()
    bare_p50, bare_p95 = percentiles(bare)
    print(f"{'what':44} {'p50':>8} {'p95':>8} {'budget':>10}")
    for (width, height), taps in ours.items():
        ours_p50, ours_p95 = percentiles(taps)
        touch = f"touch → next screen painted, {width}×{height} (ms)"
        print(f"{touch:44} {ours_p50:8.1f} {ours_p95:8.1f} {'p95 ≤ 50':>10}")
        print(f"{'  kiosk page / bare page':44} {ours_p50 / bare_p50:7.1f}x {ours_p95 / bare_p95:7.1f}x")
    print(f"{'touch → painted, bare page baseline (ms)':44} {bare_p50:8.1f} {bare_p95:8.1f}")
    print(f"{'kiosk service RSS idle → peak recording (MB)':44} {idle:8.0f} {peak:8.0f} {'≤ 200':>10}")
    sealed = "  the same, enrolled kiosk, sealed (MB)"
    print(f"{sealed:44} {sealed_idle:8.0f} {sealed_peak:8.0f} {'≤ 200':>10}")
    touches = sum(len(taps) for taps in ours.values())
    print(f"({touches} kiosk touches, {len(bare)} bare touches, Chromium headless)")


if __name__ == "__main__":
    main()
