"""Micro-benchmark: the cost of one decode step's matrix products for 1, 2, 4... rows, two ways.

    .venv/bin/python bench/linear_rows.py                  # torch's default threads
    .venv/bin/python bench/linear_rows.py --threads 1 --rows 1 2 4 8 16

Cycles through SmolLM2-135M's 210 body weight shapes (30 layers x q, k, v, o, gate, up, down; random values,
so the weights come from RAM as in a real step) and prints ms per step for `F.linear(x, W)` and for the same
product as `torch.mm(W, x.T)`, plus the 49152 x 576 LM head alone. This is why
`playground.generation.skinny_linears` exists (see bench/README.md).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rows", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    hidden, inter = 576, 1536
    shapes = [(hidden, hidden), (192, hidden), (192, hidden), (hidden, hidden), (inter, hidden), (inter, hidden),
              (hidden, inter)] * 30
    body = [torch.randn(o, i) for o, i in shapes]
    head = [torch.randn(49152, hidden)]
    ways = {"F.linear(x, W)": lambda x, w: torch.nn.functional.linear(x, w),
            "torch.mm(W, x.T)": lambda x, w: torch.mm(w, x.t())}

    def per_step(weights: list, f, rows: int) -> float:
        xs = {n: torch.randn(rows, n) for n in (hidden, inter)}

        def step() -> None:
            for w in weights:
                f(xs[w.shape[1]], w)

        step()
        t = time.perf_counter()
        for _ in range(a.repeats):
            step()
        return (time.perf_counter() - t) / a.repeats * 1000

    print(f"torch threads: {torch.get_num_threads()}")
    with torch.inference_mode():
        for label, weights in (("body (210 matrices)", body), ("LM head 49152x576", head)):
            for name, f in ways.items():
                cells = "  ".join(f"{r} rows {per_step(weights, f, r):8.1f} ms" for r in a.rows)
                print(f"{label:22} {name:18} {cells}")


if __name__ == "__main__":
    main()
