"""What opening the app costs: the machine's CPU seconds (server + headless chromium) and the Gradio events a fresh
page sends while it opens, then for one click on a tab. The app (default model `tiny`, a temporary workspace) is
served from this process; each open is a fresh browser context. Run it on a quiet machine: the CPU is read from
/proc/stat (all processes), so anything else running counts too.

    .venv/bin/python bench/page_load.py --opens 4

Compare commits by running it on each (e.g. `git stash; git checkout 806f7ac -- playground/ui/app.py`): numbers in
bench/README.md, "The open page's CPU".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def busy_s() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq, steal) since boot."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--opens", type=int, default=4, help="fresh pages to open, one after the other")
    ap.add_argument("--settle", type=float, default=4.0, help="seconds counted after the title shows")
    ap.add_argument("--tab", default="2 · SFT", help="the tab clicked after each open")
    args = ap.parse_args()
    os.environ["PLAYGROUND_HOME"] = tempfile.mkdtemp(prefix="page-load-")
    from playwright.sync_api import sync_playwright

    from playground.ui.app import build_app, make_context, serve_local
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    ctx = make_context(default_model="tiny")
    demo = build_app(ctx)
    url = serve_local(demo)
    names = {i: (bf.fn.__name__ if bf.fn is not None else "js") for i, bf in demo.fns.items()}
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.opens):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            sent: list[str] = []
            page.on("request", lambda r, sent=sent: sent.append(
                names.get(json.loads(r.post_data or "{}").get("fn_index"), "?")) if "/queue/join" in r.url else None)
            b0, s0, t0 = busy_s(), own_s(), time.time()
            page.goto(url)
            page.get_by_text("RLHF Playground").first.wait_for()
            shown = time.time() - t0
            page.wait_for_timeout(args.settle * 1000)
            opened = {"title_s": round(shown, 1), "cpu_s": round(busy_s() - b0, 1),
                      "server_cpu_s": round(own_s() - s0, 1), "events": len(sent), "fns": list(sent)}
            n, b1 = len(sent), busy_s()
            page.get_by_role("tab", name=args.tab, exact=True).click()
            page.wait_for_timeout(2000)
            opened.update(tab_cpu_s=round(busy_s() - b1, 1), tab_events=len(sent) - n)
            rows.append(opened)
            print(f"open: title {opened['title_s']} s, {opened['cpu_s']} CPU-s ({opened['server_cpu_s']} server), "
                  f"{opened['events']} events {opened['fns']}; then '{args.tab}': {opened['tab_cpu_s']} CPU-s, "
                  f"{opened['tab_events']} events", flush=True)
            context.close()
        browser.close()
    later = rows[1:] or rows  # the first open also warms the server's caches
    print(f"mean of opens 2-{len(rows)}: {sum(r['cpu_s'] for r in later) / len(later):.1f} CPU-s per open, "
          f"{sum(r['events'] for r in later) / len(later):.0f} events; "
          f"tab click {sum(r['tab_cpu_s'] for r in later) / len(later):.1f} CPU-s")
    demo.close()
    ctx.jobs.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
