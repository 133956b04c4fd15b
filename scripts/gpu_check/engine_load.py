"""A room of simulated annotators asking for pairs at once: the shared engine vs one `generate` call per request.

    python scripts/gpu_check/engine_load.py --model DIR --device cuda --users 30 --tokens 64 --phase-s 20

No gradio (the GPU machine has none): each user is a thread calling `generation.generate_pair` (what the arena's
handler calls) in a loop for --phase-s seconds, engine=True in one phase and engine=False in the other, with the
same prompts, settings and seeds (user u's i-th pair uses seed 10000*u + i). The per-request phase lets at most
--per-request-concurrency generate calls run at once, as the app did before the engine (bench/workshop_load.py
measures the same through the real app and browsers' API calls). Only pairs finished inside a phase count.
Prints `RESULT {"engine_pairs_per_s", "per_request_pairs_per_s", "ratio", "engine_max_batch", ...}`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PROMPTS = ["Explain in a few sentences why the sky is blue.", "Give me three tips for learning to cook.",
           "What is a good name for a grey cat?", "How do bees make honey?", "Write a short poem about the sea."]


def phase(engine: bool, model_dir: str, loader, args: argparse.Namespace) -> dict:  # noqa: ANN001
    from playground.core.generation import Source, generate_pair

    sides = [Source(model=model_dir, temperature=0.7, top_p=0.9, max_new_tokens=args.tokens),
             Source(model=model_dir, temperature=1.0, top_p=0.95, max_new_tokens=args.tokens)]
    gate = threading.Semaphore(args.per_request_concurrency if not engine else 10**6)
    done: list[float] = []
    tokens = [0]
    lock = threading.Lock()
    end = time.perf_counter() + args.phase_s
    t0 = time.perf_counter()

    def user(u: int) -> None:
        i = 0
        while time.perf_counter() < end:
            start = time.perf_counter()
            with gate:
                out = generate_pair(PROMPTS[(u + i) % len(PROMPTS)], sides, seed=10000 * u + i, loader=loader,
                                    engine=engine, user=f"user{u}")
            if time.perf_counter() <= end:
                with lock:
                    done.append(time.perf_counter() - start)
                    tokens[0] += sum(out.n_tokens)
            i += 1

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(args.users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    done.sort()
    return {"pairs": len(done), "pairs_per_s": len(done) / args.phase_s, "tokens_per_s": tokens[0] / args.phase_s,
            "p50_s": done[len(done) // 2] if done else None, "wall_s": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--phase-s", type=float, default=20.0)
    ap.add_argument("--per-request-concurrency", type=int, default=4)
    args = ap.parse_args()

    from playground.core import engine as eng_mod
    from playground.core.generation import load_model

    model, tok = load_model(args.model, "", args.device)
    loader = lambda _m, _a: (model, tok)  # noqa: E731 - one loaded model for every side, as the app caches it
    per_request = phase(False, args.model, loader, args)
    eng = phase(True, args.model, loader, args)
    e = eng_mod.engine_for(model, tok)
    res = {"engine_pairs_per_s": eng["pairs_per_s"], "per_request_pairs_per_s": per_request["pairs_per_s"],
           "ratio": eng["pairs_per_s"] / max(per_request["pairs_per_s"], 1e-9), "engine": eng,
           "per_request": per_request, "engine_max_batch": e.max_batch, "engine_widest_step": e.max_rows_seen,
           "device": str(next(model.parameters()).device), "dtype": str(next(model.parameters()).dtype)}
    print(f"engine {eng['pairs']} pairs, per-request {per_request['pairs']} pairs in {args.phase_s:.0f} s each; "
          f"max_batch {e.max_batch}, widest step {e.max_rows_seen} rows", flush=True)
    print("RESULT " + json.dumps(res), flush=True)
    return 0 if eng["pairs"] and per_request["pairs"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
