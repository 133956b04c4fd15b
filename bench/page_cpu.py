"""What an open page costs the machine: chromium renderer CPU while a run is followed, and after it ended.

    PLAYGROUND_CACHE=.cache/playground .venv/bin/python bench/page_cpu.py --minutes 2 --steps 60
    PLAYGROUND_CACHE=.cache/playground .venv/bin/python bench/page_cpu.py --stage reward --minutes 2 --steps 400
    PLAYGROUND_CACHE=.cache/playground .venv/bin/python bench/page_cpu.py --stage ppo --minutes 2 --steps 200

Launches the app (default model 'tiny') in this process on a temporary PLAYGROUND_HOME, opens it in headless
Debian chromium (Playwright), goes to the stage's tab (`--stage`: sft, reward, ppo or grpo), starts its tiny-cpu preset
with `--steps` max steps (PPO: total updates), and
then only watches: every `--every` seconds it reads utime + stime of chromium's renderer processes from
/proc/<pid>/stat and prints the CPU share of one core for that interval, with the run's state. At the end it
prints the average while the run was live and after it ended, then (`--floor` s) the same for a bare one-Markdown
Gradio page, as Gradio ships it and with the app's head script (see `floor`). The live view has no
gr.Timer: a page script polls `/page_poll` over plain HTTP and fires no Gradio event while nothing changed
(ui/widgets/live.py).

Linux only (/proc). The app's own CPU (this process: server + polling handlers) is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TICK = os.sysconf("SC_CLK_TCK")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def renderers() -> list[int]:
    """Chromium renderer processes under this process (the page's JS, layout and painting happen there)."""
    out = []
    for pid in children(os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()  # chromium rewrites it as one space-separated string
        except OSError:
            continue
        if b"chrom" in cmd and b"--type=renderer" in cmd:
            out.append(pid)
    return out


# stage -> (tab, start button, the form field --steps sets)
STAGES = {
    "sft": ("2 · SFT", "▶ Start training", "max steps"),
    "reward": ("4 · Reward model", "▶ Train reward model", "max steps"),
    "ppo": ("5 · PPO", "▶ Start PPO", "total updates"),
    "grpo": ("5b · GRPO / RLOO", "▶ Start GRPO", "max steps"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="how long to watch the page")
    ap.add_argument("--stage", choices=list(STAGES), default="sft", help="the stage whose run the page follows")
    ap.add_argument("--steps", type=int, default=60, help="max steps (PPO: total updates) of the tiny run it starts")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--no-run", action="store_true", help="only open the page (the idle cost)")
    ap.add_argument("--floor", type=float, default=30.0, help="seconds to measure a bare Gradio page after (0: skip)")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("error: Debian chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="page-cpu-"))
    os.environ["PLAYGROUND_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from playwright.sync_api import sync_playwright

    from playground.core.runs import FINAL_STATES, read_status
    from playground.ui.app import build_app, make_context, serve_local

    ctx = make_context(default_model="tiny")
    demo = build_app(ctx)
    url = serve_local(demo)
    live, idle, settled = [], [], []  # settled: live samples from 30 s on (the first hold page load and the click)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_text("RLHF Playground").first.wait_for()
            tab, start, steps_field = STAGES[args.stage]
            page.get_by_role("tab", name=tab, exact=True).click()
            if not args.no_run:
                page.get_by_label(steps_field, exact=True).first.fill(str(args.steps))  # reward: the DPO form's is 2nd
                page.get_by_role("button", name=start, exact=True).click()
                page.get_by_text("Started").first.wait_for()
            run = (ctx.ws.runs(args.stage)[0] if not args.no_run
                   else {"id": "(no run)", "run_dir": str(home / "none")})
            print(f"following {run['id']} for {args.minutes:g} min; sampling every {args.every:g} s", flush=True)
            print(f"{'t (s)':>6} {'renderer %':>10} {'app %':>6}  run state", flush=True)
            t_end = time.time() + args.minutes * 60
            t0 = last_t = time.time()
            last_r = sum(cpu_ticks(x) for x in renderers())
            last_a = cpu_ticks(os.getpid())
            while time.time() < t_end:
                page.wait_for_timeout(args.every * 1000)  # keeps Playwright's event loop serviced
                now = time.time()
                r = sum(cpu_ticks(x) for x in renderers())
                a = cpu_ticks(os.getpid())
                dt = now - last_t
                r_pct = 100 * (r - last_r) / TICK / dt
                a_pct = 100 * (a - last_a) / TICK / dt
                state = read_status(run["run_dir"]).get("state", "?")
                (idle if state in FINAL_STATES else live).append(r_pct)
                if state not in FINAL_STATES and now - t0 >= 30:
                    settled.append(r_pct)
                print(f"{now - t0:6.0f} {r_pct:10.1f} {a_pct:6.1f}  {state}", flush=True)
                last_t, last_r, last_a = now, r, a
            page.screenshot(path=str(home / "page.png"), full_page=True)
            browser.close()
    finally:
        for r in ctx.ws.runs(args.stage):
            ctx.jobs.stop(r["id"])
        demo.close()
        ctx.jobs.close()

    def avg(xs: list[float]) -> str:
        return f"{sum(xs) / len(xs):.1f}% of a core over {len(xs)} samples" if xs else "no samples"

    print(f"renderer CPU while the run was live: {avg(live)}")
    print(f"  the same from 30 s on:             {avg(settled)}")
    print(f"renderer CPU after the run ended:    {avg(idle)}")
    if args.floor > 0:
        print(f"a bare Gradio page (one Markdown, no events) for {args.floor:g} s: "
              f"{floor(chromium, args.floor, head=False):.1f}% of a core as Gradio ships it, "
              f"{floor(chromium, args.floor, head=True):.1f}% with the app's head script (live_page.PAGE_HEAD)")
    return 0


def floor(chromium: str, seconds: float, head: bool) -> float:
    """Renderer CPU of a one-Markdown Gradio page: Gradio 6.31 leaves requestAnimationFrame loops running (60 frames
    a second) on every page; with `head` the app's head script throttles them as it does in the app."""
    import gradio as gr
    from playwright.sync_api import sync_playwright
    from starlette.middleware import Middleware

    from playground.ui.widgets import live_page

    with gr.Blocks() as bare:
        gr.Markdown("a bare page")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra = {"app_kwargs": {"middleware": [Middleware(live_page.HeadFirst)]}} if head else {}
    bare.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **extra)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_timeout(5000)
            r0, t0 = sum(cpu_ticks(x) for x in renderers()), time.time()
            page.wait_for_timeout(seconds * 1000)
            r1, t1 = sum(cpu_ticks(x) for x in renderers()), time.time()
            browser.close()
    finally:
        bare.close()
    return 100 * (r1 - r0) / TICK / (t1 - t0)


if __name__ == "__main__":
    raise SystemExit(main())
