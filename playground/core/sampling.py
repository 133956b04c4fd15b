"""One token from one row of logits: the sampler the per-request path and the engine share.

Kept apart from generation.py and engine.py (which use each other's results) so that neither imports the other
for it: a side gets the same tokens from both paths because both call this.
"""

from __future__ import annotations

from typing import Any


def sample_row(row: Any, src: Any, gen: Any) -> int:
    """One token from one row of float logits with src's temperature / top-k / top-p and generator `gen`
    (greedy when temperature <= 0, and then the generator is not touched). The engine samples with this
    too, so a side gets the same tokens from both paths."""
    import torch

    if src.temperature <= 0:
        return int(torch.argmax(row))
    row = row / src.temperature
    if src.top_k and src.top_k > 0:
        kth = torch.topk(row, min(src.top_k, row.numel())).values[-1]
        row = row.masked_fill(row < kth, float("-inf"))
    probs = torch.softmax(row, dim=-1)
    if 0 < src.top_p < 1:
        # keep the smallest prefix of the sorted probabilities whose mass reaches top_p (always at least the
        # best token). A full sort of a 49k vocabulary costs more than a decoding step of a small model, so
        # look at the top 256, 2048, ... first; the prefix sums are the same numbers as over the full sort.
        k = 256
        while True:
            if k >= probs.numel():
                sp, si = torch.sort(probs, descending=True)
                break
            sp, si = torch.topk(probs, k)
            if float(torch.cumsum(sp, dim=-1)[-1]) >= src.top_p:
                break
            k *= 8
        drop = (torch.cumsum(sp, dim=-1) - sp) >= src.top_p
        sp = sp.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(0, si, sp)
    return int(torch.multinomial(probs, 1, generator=gen))
