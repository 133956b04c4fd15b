"""Benchmark: a workshop room voting at once, with the shared generation engine vs per-request generation.

    .venv/bin/python bench/workshop_load.py --quick            # tiny model, 20 annotators, < 5 minutes
    .venv/bin/python bench/workshop_load.py                    # bundled SmolLM2-135M, 20 annotators, 2 x 2 phases of 300 s
    .venv/bin/python bench/workshop_load.py --rounds 1         # one engine and one per-request phase (~12 min)
    .venv/bin/python bench/workshop_load.py --rounds 1 --per-request-concurrency 0   # both at the app's limit

Each phase starts the arena on loopback in its own process (a fresh workspace; PLAYGROUND_ENGINE=1 for the
engine, 0 for one `generate` call per request) and runs N simulated annotators, each a `gradio_client`
session: load a fresh pair for a typed prompt (/arena_generate, so every pair is generated, none comes from a
look-ahead), think, vote (/arena_vote), repeat until the phase ends. Phases alternate engine, per-request,
engine, ... with the same model, prompts, lengths, sampling settings and seeds (client c's i-th pair uses
seed 10000*c + i in both modes). Only pairs completed within a phase count (those still generating when it
ends are abandoned, so a phase lasts its --phase-s plus start-up). Per mode it prints pairs/min served, p50/p95 seconds from request to
complete pair (over completed pairs, and again counting each request unfinished at the end by the time it had
waited, a lower bound: a mode that leaves most clients waiting otherwise looks fast), p95 vote latency, votes stored (rows in the workspace) vs acknowledged (the reply named the
annotator); then the ratios, ending with `throughput ratio engine/per-request = X.XX`.

The per-request mode is the app as it was before the engine: its /arena_generate concurrency limit was 4
(--per-request-concurrency, default 4; 0 keeps the app's current limit, 32, which lets 20 `generate` calls
thrash the CPU together). The engine mode is the app as it is (--gen-concurrency overrides its limit).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROMPTS = ["Explain in a few sentences why the sky is blue.", "Give me three tips for learning to cook.",
           "What is a good name for a grey cat?", "Summarise the plot of a fairy tale you like.",
           "How do bees make honey?", "Write a short poem about the sea.", "Why do we need sleep?",
           "Describe a bicycle to someone who has never seen one."]
POOL = "bench"

SERVER = """
import os, sys
import gradio as gr
from playground.core.jobs import JobRunner
from playground.core.workspace import Workspace
from playground.ui.context import AppContext
from playground.ui.tabs import preferences as arena_tab

ws = Workspace()
ctx = AppContext(ws=ws, jobs=JobRunner(ws), default_model=sys.argv[1])
with gr.Blocks() as demo:
    arena_tab.build(ctx)
limit = int(sys.argv[2])
for fn in demo.fns.values():
    if limit > 0 and fn.api_name == "arena_generate":
        fn.concurrency_limit = limit
gen_limit = [fn.concurrency_limit for fn in demo.fns.values() if fn.api_name == "arena_generate"]
demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
print("URL", demo.local_url, gen_limit[0], flush=True)
sys.stdin.read()  # serve until the benchmark closes stdin
demo.close()
"""


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


class ArenaApi:
    """Positional arguments for /arena_generate and /arena_vote, matched by the labels the API page lists (the
    arena's form is a set of components, so its order is the app's business, not ours)."""

    def __init__(self, client: Any) -> None:
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        self.gen_labels = [p["label"] for p in api["/arena_generate"]["parameters"]]
        self.vote_labels = [p["label"] for p in api["/arena_vote"]["parameters"]]

    def generate(self, annotator: str, prompt: str, model: str, tokens: int, seed: int) -> list:
        sides = [{"Model": model, "Adapter": "", "Temperature": 0.7, "Top-p": 0.9, "Max new tokens": tokens},
                 {"Model": model, "Adapter": "", "Temperature": 1.2, "Top-p": 0.95, "Max new tokens": tokens}]
        seen: dict[str, int] = {}
        out = []
        for label in self.gen_labels:
            key = next((k for k in sides[0] if label.startswith(k)), None)
            if key is not None:
                side = seen.get(key, 0)
                seen[key] = side + 1
                out.append(sides[min(side, 1)][key])
                continue
            out.append({"Annotator name": annotator, "Pool": POOL, "Prompts from": "Type a prompt", "Dataset": None,
                        "Prompt": prompt}.get(label, seed if label.startswith("Seed") else None))
        return out

    def vote(self, choice: str, annotator: str) -> list:
        values = {"Annotator name": annotator, "Pool": POOL, "Reason (optional)": "",
                  "RM judge (shown after your vote)": "off"}
        return [choice] + [values.get(label) for label in self.vote_labels[1:]]


def run_phase(engine: bool, args: argparse.Namespace, index: int) -> dict:
    from gradio_client import Client

    from playground.core.workspace import Workspace

    home = Path(tempfile.mkdtemp(prefix=f"workshop-load-{index}-"))
    env = {**os.environ, "PLAYGROUND_HOME": str(home), "PLAYGROUND_ENGINE": "1" if engine else "0",
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    if args.threads > 0:
        env["OMP_NUM_THREADS"] = str(args.threads)
    limit = args.gen_concurrency if engine else args.per_request_concurrency
    proc = subprocess.Popen([sys.executable, "-c", SERVER, args.model, str(limit)], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        if not line or line[0] != "URL":
            raise SystemExit(f"arena server did not start: {line}")
        url, gen_limit = line[1], line[2]
        warm = Client(url, verbose=False)  # load the model before the clock starts
        api = ArenaApi(warm)
        warm.predict(*api.generate("warmup", PROMPTS[0], args.model, 4, 0), api_name="/arena_generate")
        pair_s: list[float] = []
        inflight: dict[int, float] = {}  # client -> when its pending pair request started
        vote_s: list[float] = []
        acked = [0]
        finished: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        deadline = t0 + args.phase_s

        def annotator(c: int) -> None:
            name = f"annotator-{c:02d}"
            rng = random.Random(c)
            try:
                client = Client(url, verbose=False)
                i = 0
                while time.perf_counter() < deadline:
                    s = time.perf_counter()
                    with lock:
                        inflight[c] = s
                    a, b, *_ = client.predict(*api.generate(name, PROMPTS[(c + i) % len(PROMPTS)], args.model,
                                                            args.tokens, 10000 * c + i), api_name="/arena_generate")
                    if not (a and b):
                        raise RuntimeError("an empty pair came back (refused?)")
                    done = time.perf_counter()
                    if done > deadline:
                        return  # only pairs completed within the phase count (this one stays unfinished)
                    with lock:
                        del inflight[c]
                        pair_s.append(done - s)
                        finished.append(done - t0)
                    time.sleep(args.think * rng.uniform(0.5, 1.5))
                    s = time.perf_counter()
                    _, counter, *_ = client.predict(*api.vote(rng.choice(["a", "b", "tie"]), name),
                                                    api_name="/arena_vote")
                    with lock:
                        vote_s.append(time.perf_counter() - s)
                        if f"**{name}:**" in str(counter):
                            acked[0] += 1
                        else:
                            errors.append(f"{name}: vote not acknowledged: {str(counter)[:100]!r}")
                    i += 1
            except Exception as e:  # noqa: BLE001 - reported in the summary
                if time.perf_counter() < deadline:
                    with lock:
                        errors.append(f"{name}: {type(e).__name__}: {str(e)[:120]}")

        threads = [threading.Thread(target=annotator, args=(c,), daemon=True) for c in range(args.clients)]
        for th in threads:
            th.start()
        grace = deadline + args.think * 1.5 + 15  # votes in flight at the deadline may finish; pairs still
        for th in threads:  # generating are abandoned (one grace period for all, not one per blocked client)
            th.join(timeout=max(0.0, grace - time.perf_counter()))
        span = args.phase_s
        with lock:
            acked_now = acked[0]
            unfinished = [deadline - s for s in inflight.values()]
            waited = list(pair_s) + unfinished
        stored = len(Workspace(home / "playground.db").pairs(POOL, judged_only=True))
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"mode": "engine" if engine else "per-request", "pairs": len(pair_s), "span_s": span,
            "pairs_per_min": 60 * len(pair_s) / span, "p50": _pct(pair_s, 0.5), "p95": _pct(pair_s, 0.95),
            "vote_p95": _pct(vote_s, 0.95),
            "unfinished": len(unfinished), "p50_all": _pct(waited, 0.5), "p95_all": _pct(waited, 0.95), "stored": stored, "acked": acked_now, "errors": errors,
            "gen_limit": gen_limit, "load": f"{load0:.1f}->{os.getloadavg()[0]:.1f}"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=128, help="max new tokens per side")
    ap.add_argument("--think", type=float, default=3.0, help="mean seconds between a pair and its vote")
    ap.add_argument("--phase-s", type=float, default=300.0,
                    help="seconds each phase keeps asking for pairs (300: a 120 s phase holds under two of the "
                         "engine's waves of 20 pairs on the bundled model, so its count is mostly where the "
                         "phase end falls)")
    ap.add_argument("--rounds", type=int, default=2, help="engine/per-request alternations")
    ap.add_argument("--gen-concurrency", type=int, default=0,
                    help="engine mode's /arena_generate concurrency limit (0: the app's)")
    ap.add_argument("--per-request-concurrency", type=int, default=4,
                    help="per-request mode's /arena_generate limit (default 4, the app's before the engine; 0: app's)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads in the app (OMP_NUM_THREADS; 0: default)")
    ap.add_argument("--quick", action="store_true", help="tiny model, 32 tokens, 2 x 2 phases of 30 s")
    args = ap.parse_args()
    if args.quick:
        args.model, args.tokens, args.think, args.phase_s, args.rounds = "tiny", 32, 1.0, 30.0, 2
    os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    print(f"model={args.model} clients={args.clients} tokens={args.tokens} think={args.think}s "
          f"phase={args.phase_s}s rounds={args.rounds} threads={args.threads or 'default'} "
          f"generate-concurrency engine={args.gen_concurrency or 'app'} "
          f"per-request={args.per_request_concurrency or 'app'} load={os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, list[dict]] = {"engine": [], "per-request": []}
    for r in range(args.rounds):
        for engine in (True, False):
            res = run_phase(engine, args, 2 * r + int(not engine))
            results[res["mode"]].append(res)
            print(f"round {r} {res['mode']:>11}: {res['pairs']} pairs in {res['span_s']:.0f} s = "
                  f"{res['pairs_per_min']:.1f}/min, pair p50 {res['p50']:.2f} s p95 {res['p95']:.2f} s ({res['unfinished']} "
                  f"unfinished; with them as time waited: p50 {res['p50_all']:.2f} s p95 {res['p95_all']:.2f} s), vote p95 "
                  f"{res['vote_p95']:.2f} s, votes stored/acked {res['stored']}/{res['acked']}, generate limit "
                  f"{res['gen_limit']}, load {res['load']}", flush=True)
            for e in res["errors"][:5]:
                print("   error:", e)
    summary = {}
    print(f"{'':24}{'engine':>12}{'per-request':>14}{'ratio':>8}")
    for key, label in (("pairs_per_min", "pairs/min"), ("p50", "pair p50 s"), ("p95", "pair p95 s"),
                       ("p50_all", "p50 s incl. unfinished"), ("p95_all", "p95 s incl. unfinished"),
                       ("vote_p95", "vote p95 s")):
        e = statistics.mean(x[key] for x in results["engine"])
        p = statistics.mean(x[key] for x in results["per-request"])
        summary[key] = e / p if p else float("nan")
        print(f"{label:24}{e:12.2f}{p:14.2f}{summary[key]:8.2f}")
    for mode, rs in results.items():
        stored, acked = sum(x["stored"] for x in rs), sum(x["acked"] for x in rs)
        print(f"{mode:>11}: votes stored {stored} / acknowledged {acked} (lost {acked - stored})")
    print(f"throughput ratio engine/per-request = {summary['pairs_per_min']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
