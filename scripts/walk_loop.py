"""A walk of the whole loop on the bundled model, in headless chromium, as a new user would do it (run by hand).

    PLAYGROUND_CACHE=.cache/playground .venv/bin/python scripts/walk_loop.py

Launches the app in this process on a temporary PLAYGROUND_HOME with the default (bundled) model, opens ONE page
before anything exists, and drives it through: a dataset from a starter (listed in SFT's picker without Refresh),
a short SFT run (its live panel draws a visible line once 2 steps are logged; the finished run appears in the
arena's adapter picker and SFT's "try" picker), a few arena pairs voted with keys 1/2, a short reward model
(line from its second point; listed in PPO's reward picker as rm:<run>), and a short PPO run stopped after its
second update (the header says what was kept, the folder has adapter/, "Arena round" accepts it). Every run
starts from the page that was already open: no reload, no Refresh press.

Each stage writes tests/artifacts/walk-NN-<what>.png and prints one line per check (OK / FAIL) with timings and
the load average; a failed check is recorded with a screenshot and the walk goes on where it can. It also prints
chromium's renderer CPU (share of one core, from /proc) per stage. Exit status 1 if any check failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ART = REPO / "tests" / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
# a panel following run `id` shows, in its visible charts, a line with >= 2 points, real geometry, visible stroke
PANEL_LINES = """id => {
    const p = document.querySelector(`.pg-live[data-pg-run="${id}"]`);
    if (!p || p.getBoundingClientRect().width === 0) return null;
    return [...p.querySelectorAll('svg.pg-chart-svg')].map(svg => {
        const ls = [...svg.querySelectorAll('polyline.pg-line')].map(l => {
            const s = getComputedStyle(l), box = l.getBBox();
            return {n: l.points.numberOfItems, w: box.width, stroke: s.stroke, sw: parseFloat(s.strokeWidth),
                    op: parseFloat(s.opacity), vis: s.visibility};
        });
        return {title: svg.getAttribute('aria-label'), lines: ls,
                drawn: ls.some(l => l.n >= 2 && l.w > 0 && l.stroke !== 'none' && l.stroke !== '' && l.sw > 0
                                    && l.op > 0 && l.vis !== 'hidden')};
    });
}"""

STATS = "() => document.body.innerText.match(/first token: .*? tokens · [0-9.]+ s/g) || []"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Walk:
    def __init__(self, page: Any, ctx: Any) -> None:
        self.page, self.ctx = page, ctx
        self.n = 0
        self.fails: list[str] = []
        self.t0 = time.time()
        self.timings: list[tuple[str, float, str, float]] = []

    # -- reporting ------------------------------------------------------------------------------------
    def shot(self, what: str) -> str:
        self.n += 1
        path = ART / f"walk-{self.n:02d}-{what}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path.name

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        line = f"[{time.time() - self.t0:6.0f}s] {'OK  ' if ok else 'FAIL'} {what}" + (f" — {detail}" if detail else "")
        print(line, flush=True)
        if not ok:
            self.fails.append(line)
        return ok

    def note(self, msg: str) -> None:
        print(f"[{time.time() - self.t0:6.0f}s]      {msg}", flush=True)

    # -- page helpers ---------------------------------------------------------------------------------
    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name, exact=True).click()
        self.page.wait_for_timeout(800)

    def visible(self, locator: Any) -> Any:
        for i in range(locator.count()):
            if locator.nth(i).is_visible():
                return locator.nth(i)
        return None

    def field(self, label: str) -> Any:
        """The visible form field labelled `label`; opens the visible "Advanced" section when it is in there."""
        loc = self.visible(self.page.get_by_label(label, exact=True))
        if loc is None:
            adv = self.visible(self.page.locator(".pg-advanced > button, .pg-advanced button.label-wrap"))
            if adv is not None:
                adv.click()
                self.page.wait_for_timeout(500)
            loc = self.visible(self.page.get_by_label(label, exact=True))
        if loc is None:
            raise RuntimeError(f"no visible field labelled {label!r}")
        return loc

    def fill(self, label: str, value: Any) -> None:
        loc = self.field(label)
        loc.fill(str(value))
        loc.press("Tab")
        self.page.wait_for_timeout(200)

    def pick(self, label: str, option: str, within: Any = None) -> bool:
        """Open the visible dropdown `label` and click the option whose text contains `option` (no typing)."""
        box = self.field(label) if within is None else within
        box.click()
        self.page.wait_for_timeout(400)
        opt = self.visible(self.page.get_by_role("option").filter(has_text=option))
        if opt is None:
            box.press("Escape")
            box.blur()
            return False
        opt.click()
        self.page.wait_for_timeout(400)
        return True

    def listed(self, box: Any, option: str, wait_s: float = 30) -> bool:
        """Is `option` among the dropdown's choices (opening it as a person would), within `wait_s`?"""
        end = time.time() + wait_s
        while True:
            box.click()
            self.page.wait_for_timeout(400)
            found = self.visible(self.page.get_by_role("option").filter(has_text=option)) is not None
            if found or time.time() > end:
                return found
            box.press("Escape")
            box.blur()
            self.page.wait_for_timeout(2000)

    def close_list(self, box: Any) -> None:
        box.press("Escape")
        box.blur()
        self.page.wait_for_timeout(300)

    def new_run(self, stage: str, before: set[str], timeout: float = 60) -> dict[str, Any]:
        end = time.time() + timeout
        while time.time() < end:
            runs = [r for r in self.ctx.ws.runs(stage) if r["id"] not in before]
            if runs:
                return runs[0]
            self.page.wait_for_timeout(500)
        raise RuntimeError(f"no new {stage} run after {timeout:.0f} s")

    def wait_lines(self, run: dict[str, Any], key: str, timeout: float) -> tuple[bool, int, Any]:
        """Wait until the run's panel draws a visible line; returns (drawn, logged rows with `key` then, charts)."""
        from playground.core.runs import FINAL_STATES, read_metrics, read_status

        end = time.time() + timeout
        charts = None
        while time.time() < end:
            charts = self.page.evaluate(PANEL_LINES, run["id"])
            rows = [m for m in read_metrics(run["run_dir"]) if key in m]
            if charts and any(c["drawn"] for c in charts):
                return True, len(rows), charts
            if read_status(run["run_dir"]).get("state") in FINAL_STATES and time.time() > end - timeout + 30:
                charts = self.page.evaluate(PANEL_LINES, run["id"])
                return bool(charts and any(c["drawn"] for c in charts)), len(rows), charts
            self.page.wait_for_timeout(500)
        return False, len([m for m in read_metrics(run["run_dir"]) if key in m]), charts

    def wait_rows(self, run: dict[str, Any], key: str, n: int, timeout: float) -> int:
        from playground.core.runs import FINAL_STATES, read_metrics, read_status

        end = time.time() + timeout
        while time.time() < end:
            rows = [m for m in read_metrics(run["run_dir"]) if key in m]
            if len(rows) >= n or read_status(run["run_dir"]).get("state") in FINAL_STATES:
                return len(rows)
            self.page.wait_for_timeout(500)
        return -1

    def wait_final(self, run: dict[str, Any], timeout: float) -> str:
        from playground.core.runs import FINAL_STATES, read_status

        end = time.time() + timeout
        while time.time() < end:
            state = read_status(run["run_dir"]).get("state")
            if state in FINAL_STATES:
                return state
            self.page.wait_for_timeout(1000)
        return "timeout"


def stage_dataset(w: Walk) -> str:
    w.tab("1 · Dataset")
    w.page.get_by_role("tab", name="Import", exact=True).click()
    w.page.wait_for_timeout(500)
    w.pick("Start from a starter dataset", "answer")
    w.page.get_by_role("button", name="Load starter", exact=True).click()
    add = w.page.get_by_role("button", name="✅ Add to dataset", exact=True)
    w.page.wait_for_function("el => !el.disabled", arg=add.element_handle(), timeout=60_000)
    w.shot("dataset-starter-staged")
    add.click()
    end = time.time() + 60
    while time.time() < end and "starter-answer" not in [d["name"] for d in w.ctx.ws.list_datasets()]:
        w.page.wait_for_timeout(500)
    names = [d["name"] for d in w.ctx.ws.list_datasets()]
    w.check("starter-answer" in names, "dataset made from the 'answer' starter", f"workspace has {names}")
    w.page.wait_for_timeout(1000)
    w.shot("dataset-created")
    w.tab("2 · SFT")
    box = w.field("dataset")
    ok = w.listed(box, "starter-answer", wait_s=30)
    w.shot("sft-dataset-picker")
    w.check(ok, "SFT dataset picker lists 'starter-answer' (no Refresh, no reload)")
    if ok:
        w.visible(w.page.get_by_role("option").filter(has_text="starter-answer")).click()
        w.page.wait_for_timeout(400)
    else:
        w.close_list(box)
    return "starter-answer"


def train_and_watch(w: Walk, stage: str, button: str, steps: int, batch: int) -> dict[str, Any]:
    """Short settings in the form, Start from the page, then watch: the line appears by the 2nd logged step."""
    w.fill("max steps", steps)
    for label, value in (("per device train batch size", batch), ("gradient accumulation steps", 1),
                         ("max length", 128), ("eval steps", 3)):
        w.fill(label, value)
    w.shot(f"{stage}-form")
    before = {r["id"] for r in w.ctx.ws.runs(stage)}
    t = time.time()
    w.visible(w.page.get_by_role("button", name=button, exact=True)).click()
    run = w.new_run(stage, before)
    w.note(f"{stage} run {run['id']} (dataset {run['config'].get('dataset')}, "
           f"max_steps {run['config'].get('max_steps')})")
    drawn, rows, charts = w.wait_lines(run, "loss", timeout=900)
    w.shot(f"{stage}-live-line")
    w.check(drawn and rows <= 3, f"{stage} live panel draws a visible line (>= 2 points) while it runs",
            f"{rows} loss rows logged when first seen drawn; charts {summary(charts)}")
    state = w.wait_final(run, 1200)
    w.timings.append((f"{stage} run", time.time() - t, load(), 0))
    w.page.wait_for_timeout(4000)
    w.shot(f"{stage}-finished")
    w.check(state == "succeeded", f"{stage} run finished: {state}")
    w.check("succeeded" in w.page.locator(f'.pg-live[data-pg-run="{run["id"]}"]').inner_text(),
            f"{stage} live header says succeeded (no stale state)")
    return run


def stage_sft(w: Walk, steps: int) -> dict[str, Any]:
    w.tab("2 · SFT")
    run = train_and_watch(w, "sft", "▶ Start training", steps, batch=2)
    acc = w.visible(w.page.get_by_text("Try the result: base vs adapter", exact=True))
    acc.click()
    w.page.wait_for_timeout(600)
    ok = w.listed(w.field("Finished run"), run["id"], wait_s=20)
    w.shot("sft-try-picker")
    w.check(ok, "SFT 'try' picker lists the finished run (no Refresh)")
    w.close_list(w.field("Finished run"))
    return run


def stage_arena(w: Walk, sft: dict[str, Any], pairs: int) -> None:
    w.tab("3 · Preferences")
    w.visible(w.page.get_by_text("Sources (hidden from the annotator until the vote)", exact=True)).click()
    w.page.wait_for_timeout(800)
    adapters = w.page.get_by_label("Adapter (finished run)", exact=True)
    ok = w.visible(adapters) is not None and adapters.count() >= 2
    ok = ok and w.listed(adapters.nth(1), sft["id"], wait_s=20)
    w.shot("arena-adapter-picker")
    w.check(ok, "arena Source 2 adapter picker lists the SFT run (no Refresh)")
    if ok:
        w.visible(w.page.get_by_role("option").filter(has_text=sft["id"])).click()
        w.page.wait_for_timeout(800)
    for i in range(2):  # short answers: the bundled model at 128 tokens a side is slow on a shared CPU
        w.page.evaluate("""([i, v]) => { const r = document.querySelectorAll(
            'input[aria-label="range slider for Max new tokens"]')[i]; r.value = v;
            r.dispatchEvent(new Event('input', {bubbles: true})); r.dispatchEvent(new Event('change', {bubbles: true})); }""",
                        [i, 24])
    w.page.wait_for_timeout(500)
    w.shot("arena-sources")
    prompts = ["Give me one tip for sleeping better.", "What is the capital of France?",
               "Write a short greeting for a new colleague.", "Name two primary colours."]
    for i in range(pairs):
        before = w.ctx.ws.count_pairs()
        w.page.locator("#arena-prompt textarea").fill(prompts[i % len(prompts)])
        stats = w.page.evaluate(STATS)  # the last pair's "first token … tokens · … s" lines, if any
        t = time.time()
        w.page.locator("#arena-generate").click()
        if i == 1:
            w.page.wait_for_timeout(300)
            w.shot("arena-pair-2-generating")  # what is on screen while the next pair streams
        try:
            # both sides of the NEW pair finished: two stats lines, not the previous pair's
            w.page.wait_for_function(f"b => {{ const s = ({STATS})(); return s.length >= 2 && s.join('|') !== b; }}",
                                     arg="|".join(stats), timeout=300_000, polling=500)
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            w.shot(f"arena-pair-{i + 1}-not-generated")
            w.check(False, f"pair {i + 1} generated", str(e).splitlines()[0])
            return
        w.note(f"pair {i + 1} generated in {time.time() - t:.0f} s (load {load()})")
        w.page.locator("#arena-counter").click()
        w.page.wait_for_timeout(1000)  # read the pair: votes on a pair shown under 0.5 s are ignored
        key = "1" if i % 2 == 0 else "2"
        counter_before = w.page.locator("#arena-counter").inner_text()
        w.page.keyboard.press(key)
        try:
            w.page.wait_for_function("b => document.querySelector('#arena-counter').innerText !== b",
                                     arg=counter_before, timeout=30_000, polling=300)
        except Exception:  # noqa: BLE001
            pass
        w.shot(f"arena-voted-{i + 1}")
        after = w.ctx.ws.count_pairs()
        w.check(after == before + 1, f"vote {i + 1} with key {key} stored and the counter moved",
                f"counter {counter_before!r} -> {w.page.locator('#arena-counter').inner_text()!r}")


def stage_reward(w: Walk, steps: int) -> dict[str, Any]:
    w.tab("4 · Reward model")
    w.pick("dataset", "builtin:prefs")
    run = train_and_watch(w, "reward", "▶ Train reward model", steps, batch=4)
    w.tab("5 · PPO")
    ok = w.listed(w.field("reward"), f"rm:{run['id']}", wait_s=20)
    w.shot("ppo-reward-picker")
    w.check(ok, f"PPO reward picker lists rm:{run['id']} (no Refresh)")
    w.close_list(w.field("reward"))
    return run


def stage_ppo(w: Walk, rm: dict[str, Any], sft: dict[str, Any] | None, updates: int) -> None:
    from playground.core.runs import read_metrics, read_status

    w.tab("5 · PPO")
    w.pick("reward", f"rm:{rm['id']}")
    if sft is not None:
        w.check(w.pick("Start the policy from", sft["id"]), "PPO 'Start the policy from' lists the SFT run")
    w.fill("total updates", updates)
    for label, value in (("rollout batch size", 4), ("per device train batch size", 4), ("response length", 8),
                         ("ppo epochs", 1), ("sample every", 0), ("save steps", 0)):
        w.fill(label, value)
    w.shot("ppo-form")
    before = {r["id"] for r in w.ctx.ws.runs("ppo")}
    t = time.time()
    w.visible(w.page.get_by_role("button", name="▶ Start PPO", exact=True)).click()
    run = w.new_run("ppo", before)
    w.note(f"PPO run {run['id']} (reward {run['config'].get('reward')}, sft_run {run['config'].get('sft_run')!r})")
    drawn, rows, charts = w.wait_lines(run, "step", timeout=1200)
    w.shot("ppo-live-line")
    w.check(drawn and rows <= 3, "PPO live panel draws a visible line from its second update",
            f"{rows} update rows logged when first seen drawn; charts {summary(charts)}")
    n = w.wait_rows(run, "step", 2, timeout=900)
    w.note(f"update 2 logged after {time.time() - t:.0f} s ({n} rows; load {load()})")
    ts = time.time()
    w.visible(w.page.get_by_role("button", name="⏹ Stop", exact=True)).click()
    state = w.wait_final(run, 300)
    w.timings.append(("PPO run to update 2", ts - t, load(), 0))
    w.timings.append(("PPO stop", time.time() - ts, load(), 0))
    w.page.wait_for_timeout(5000)
    w.shot("ppo-stopped")
    status = read_status(run["run_dir"])
    head = w.page.locator(f'.pg-live[data-pg-run="{run["id"]}"]').inner_text()
    kept_line = next((ln for ln in head.splitlines() if "Kept" in ln or "kept" in ln), "")
    done = [m["step"] for m in read_metrics(run["run_dir"]) if "step" in m]
    w.check(state == "stopped", f"PPO run stopped: {state}", f"status kept={status.get('kept')!r}")
    w.check(bool(re.search(r"adapter after update \d+", kept_line)), "PPO header says what was kept",
            f"header line {kept_line!r}; updates logged {done}")
    adapter = Path(run["run_dir"]) / "adapter"
    w.check(adapter.is_dir() and any(adapter.iterdir()), "the stopped run's folder has adapter/",
            f"{sorted(p.name for p in adapter.iterdir()) if adapter.is_dir() else 'missing'}")
    w.visible(w.page.locator("#ppo-arena-round")).click()
    try:
        w.page.wait_for_function("""() => [...document.querySelectorAll('[role=tab]')].some(
            t => t.textContent.includes('3 · Preferences') && t.getAttribute('aria-selected') === 'true')""",
                                 timeout=60_000)
        switched = True
    except Exception:  # noqa: BLE001
        switched = False
    w.page.wait_for_timeout(1500)
    w.shot("ppo-arena-round")
    toast = " | ".join(t.strip() for t in w.page.locator(".toast-body, .toast-wrap").all_inner_texts())[:300]
    w.check(switched, "'Arena round' accepts the stopped run and switches to the arena", f"toasts: {toast!r}")


def summary(charts: Any) -> str:
    if not charts:
        return "no panel for the run"
    return "; ".join(f"{c['title']}: {'drawn' if c['drawn'] else 'not drawn'} "
                     f"{[(x['n'], x['stroke']) for x in c['lines']]}" for c in charts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sft-steps", type=int, default=6)
    ap.add_argument("--rm-steps", type=int, default=6)
    ap.add_argument("--ppo-updates", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--model", default="bundled")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("error: Debian chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    ART.mkdir(parents=True, exist_ok=True)
    for old in ART.glob("walk-*.png"):
        old.unlink()
    home = Path(tempfile.mkdtemp(prefix="walk-loop-"))
    os.environ["PLAYGROUND_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from playwright.sync_api import sync_playwright

    from bench.page_cpu import TICK, cpu_ticks, renderers
    from playground.ui.app import build_app, make_context, serve_local

    print(f"home {home}; model {args.model}; load {load()}", flush=True)
    ctx = make_context(default_model=args.model)
    demo = build_app(ctx)
    url = serve_local(demo)
    w = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)  # opened once, before any dataset or run exists
            page.get_by_text("RLHF Playground").first.wait_for()
            page.wait_for_timeout(3000)
            w = Walk(page, ctx)
            out: dict[str, Any] = {}

            def stage(name: str, fn: Any, *a: Any) -> Any:
                t, r0 = time.time(), sum(cpu_ticks(x) for x in renderers())
                try:
                    res = fn(w, *a)
                except Exception as e:  # noqa: BLE001 - a stage that breaks is reported with a screenshot
                    traceback.print_exc()
                    w.check(False, f"stage {name} raised", f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                            f" (screenshot {w.shot(f'{name}-error')})")
                    res = None
                dt = time.time() - t
                cpu = 100 * (sum(cpu_ticks(x) for x in renderers()) - r0) / TICK / dt
                w.timings.append((f"stage {name}", dt, load(), cpu))
                print(f"== stage {name}: {dt:.0f} s, load {load()}, page renderer {cpu:.1f}% of a core", flush=True)
                return res

            stage("dataset", stage_dataset)
            out["sft"] = stage("sft", stage_sft, args.sft_steps)
            if out["sft"] is not None:
                stage("arena", stage_arena, out["sft"], args.pairs)
            out["rm"] = stage("reward", stage_reward, args.rm_steps)
            if out["rm"] is not None:
                stage("ppo", stage_ppo, out["rm"], out["sft"], args.ppo_updates)
            browser.close()
    finally:
        for stage_name in ("sft", "reward", "ppo"):
            for r in ctx.ws.runs(stage_name):
                ctx.jobs.stop(r["id"])
        demo.close()
        ctx.jobs.close()
    print("\ntimings:")
    for name, dt, la, cpu in (w.timings if w else []):
        print(f"  {name:24s} {dt:7.0f} s  load {la}" + (f"  renderer {cpu:.1f}%" if cpu else ""))
    print(f"\n{len(w.fails) if w else '?'} failed checks" + "".join(f"\n  {f}" for f in (w.fails if w else [])))
    print(f"screenshots: {ART}/walk-*.png; home kept at {home}")
    return 1 if (w is None or w.fails) else 0


if __name__ == "__main__":
    raise SystemExit(main())
