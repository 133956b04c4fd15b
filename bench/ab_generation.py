"""Benchmark: side-by-side A/B generation in one batched call vs two sequential calls.

    .venv/bin/python bench/ab_generation.py                      # bundled SmolLM2-135M, 64 tokens per side
    .venv/bin/python bench/ab_generation.py --model tiny --tokens 32 --repeats 3 --device cpu
    .venv/bin/python bench/ab_generation.py --threads 1               # torch CPU threads (default: torch's)

Both sides use different sampling settings (A: T=0.7 top_p=0.9, B: T=1.2 top_p=0.95), as in the arena.
Lengths are fixed (EOS is forbidden until --tokens new tokens), so both ways produce exactly the same
number of tokens. Prints one line per repeat and a JSON summary with the median times and the speed-up
ratio sequential / batched (target >= 1.6).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.core.generation import Source, generate_batch, load_model  # noqa: E402
from playground.core.models import device_label  # noqa: E402


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--tokens", type=int, default=64, help="new tokens per side (fixed)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--prompt", default="Explain in a few sentences why the sky is blue.")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)

    model, tok = load_model(args.model, "", device=args.device)
    a = Source(model=args.model, temperature=0.7, top_p=0.9, max_new_tokens=args.tokens)
    b = Source(model=args.model, temperature=1.2, top_p=0.95, max_new_tokens=args.tokens)
    n = args.tokens

    def batched(seed: int) -> tuple[float, list[int]]:
        t = time.perf_counter()
        out = generate_batch(model, tok, [args.prompt] * 2, [a, b], [seed, seed + 1], min_new_tokens=n)
        return time.perf_counter() - t, out.n_tokens

    def sequential(seed: int) -> tuple[float, list[int]]:
        t = time.perf_counter()
        oa = generate_batch(model, tok, [args.prompt], [a], [seed], min_new_tokens=n)
        ob = generate_batch(model, tok, [args.prompt], [b], [seed + 1], min_new_tokens=n)
        return time.perf_counter() - t, oa.n_tokens + ob.n_tokens

    batched(0)  # warm-up: first-call allocations and kernel selection
    sequential(0)
    tb, ts = [], []
    for r in range(args.repeats):
        # alternate the order so slow drift on a shared machine does not favour one side
        if r % 2:
            (s, ns), (bt, nb) = sequential(r), batched(r)
        else:
            (bt, nb), (s, ns) = batched(r), sequential(r)
        assert nb == ns == [n, n], (nb, ns)  # same lengths both ways
        tb.append(bt)
        ts.append(s)
        print(f"repeat {r}: batched {bt:.3f}s  sequential {s:.3f}s  ratio {s / bt:.2f}x", flush=True)
    mb, ms = statistics.median(tb), statistics.median(ts)
    summary = {"model": args.model, "device": device_label() if args.device != "cpu" else "CPU (fp32)",
               "tokens_per_side": n, "repeats": args.repeats, "threads": _threads(), "batched_s": round(mb, 3),
               "sequential_s": round(ms, 3), "ratio": round(ms / mb, 2), "target": 1.6}
    print(json.dumps(summary))
    print(f"batched A/B is {ms / mb:.2f}x faster than two sequential calls (target >= 1.6x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
