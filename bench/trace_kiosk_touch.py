"""Where a touch's time goes on the kiosk page: a Chromium trace of the bench's visitor walk.

Not part of `make bench` (run.py takes bench_*.py only): a tool for finding what to cut in
kiosk/static/. It walks the same path as bench_kiosk_service.py (attract → consent "no" → two tap
answers → thanks) at one window size while Chromium traces, then prints

* touch → painted per kind of touch (median and all samples), as the bench measures it;
* the CPU time per walk of the costs that grow with pixels (raster of tiles, the display
  compositor drawing frames, paint) and of the main thread's own work (style, layout, script).

CPU time (the trace's thread time), not wall time: on a busy shared machine wall times swing
several-fold between runs, CPU time much less. `--css FILE` adds a style sheet after the page
loaded, to try a change (for example `* { box-shadow: none !important }`) before making it.

    .venv/bin/python bench/trace_kiosk_touch.py --size 1920x1080 --rounds 3 [--css try.css]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_kiosk_service import CHROMIUM, CHROMIUM_ARGS, PROBE, start_kiosk, visitor_walk

from kiosk.hardware.pulse import PulseNullSink

# The bench's probe, also noting which element each touch hit.
KIND_PROBE = PROBE.replace(
    "document.addEventListener('pointerdown', () => { started = performance.now(); }",
    "document.addEventListener('pointerdown', (event) => { started = performance.now(); "
    "window.__what = event.target.id || event.target.className; }",
).replace(
    "window.__taps.push(performance.now() - t0)",
    "window.__taps.push([window.__what, performance.now() - t0])",
)
CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink", "cc", "viz", "toplevel"]
COSTS = {
    "RasterTask": "raster (tiles)",
    "Display::DrawAndSwap": "compositor frames (videos)",
    "Paint": "paint",
    "Layout": "layout",
    "UpdateLayoutTree": "style",
    "FunctionCall": "script",
}


def cpu_per_cost(trace: Path) -> collections.Counter[str]:
    data = json.loads(trace.read_text())
    events = data["traceEvents"] if isinstance(data, dict) else data
    spent: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("ph") == "X" and event.get("name") in COSTS:
            spent[COSTS[event["name"]]] += event.get("tdur", event.get("dur", 0)) / 1000
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1920x1080", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--rounds", type=int, default=3, help="visitor walks (4 touches each)")
    parser.add_argument("--css", type=Path, help="a style sheet added after the page loaded")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="vertelpaal-trace-kiosk-"))
    trace = folder / "trace.json"
    with PulseNullSink() as sink:
        kiosk = start_kiosk(folder, dict(os.environ, **sink.client_env))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(
                    viewport={"width": width, "height": height}, reduced_motion="reduce", bypass_csp=True
                )
                page.goto(kiosk.url)
                page.wait_for_selector("body[data-screen=attract]")
                if args.css:
                    page.add_style_tag(content=args.css.read_text())
                page.evaluate(KIND_PROBE)
                browser.start_tracing(page=page, path=str(trace), categories=CATEGORIES)
                for _ in range(args.rounds):
                    visitor_walk(page)
                browser.stop_tracing()
                taps = page.evaluate("window.__taps")
                browser.close()
        finally:
            kiosk.stop()
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    for what, ms in taps:
        by_kind[what].append(ms)
    print(f"touch → painted at {width}×{height}, traced (tracing slows Chromium; compare runs alike)")
    for what, samples in by_kind.items():
        listed = " ".join(f"{ms:.0f}" for ms in samples)
        print(f"  {what[:24]:24} median {statistics.median(samples):6.1f} ms   [{listed}]")
    print(f"CPU per walk (ms, mean of {args.rounds})")
    for cost, ms in cpu_per_cost(trace).most_common():
        print(f"  {cost:28} {ms / args.rounds:8.1f}")


if __name__ == "__main__":
    main()
