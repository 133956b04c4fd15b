"""The preference service: votes, edits, demonstrations, pool stats (import / export / push: preferences/io.py).

    from playground.stages.preferences import pairs as prefs
    served = prefs.serve_pair("Tell me about owls.", ["text 1", "text 2"], [src1, src2], pool="default")
    prefs.record_vote(ws, served, "a", annotator="ana", reason="more helpful")
    prefs.leaderboard(ws, pool="default")                # Bradley-Terry ratings with bootstrap CIs
    from playground.stages.preferences import io as prefs_io
    rows = prefs_io.export_pairs(pool="default")         # [{"prompt", "chosen", "rejected"}] conversational

Fairness: the two outputs come in "slots" (slot 1 = the first configured source, slot 2 = the second).
`serve_pair` decides at random which slot is shown as A; the row stores the texts and sources as shown
(response_a / source_a is what the annotator saw as A) and `meta.a_slot` records which slot that was, so
votes on the same pair by several annotators (same pair_key) can be compared in slot terms even when
each saw a different order.

Every judgement is one INSERT in one transaction (Workspace.add_pair), never an UPDATE of a shared row,
so concurrent voters cannot lose or duplicate each other's rows. Unjudged pairs prepared for a workshop
pool are rows with choice NULL ("templates"); each annotator's vote on one is a new row with its key.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from playground.core.chat import as_messages, prompt_key
from playground.core.errors import PrefsError  # noqa: F401 - raised here, re-exported
from playground.core.workspace import Workspace, WorkspaceError
from playground.stages.preferences.rows import BOTH_BAD_OPTIONS, TIES_OPTIONS  # noqa: F401 - re-exported

CHOICES = ("a", "b", "tie", "both_bad")


# -- serving and judging ---------------------------------------------------------------------------
def make_pair_key(prompt: Any, text1: str, text2: str) -> str:
    """Same prompt and the same two outputs (in slot order) -> the same key."""
    h = hashlib.sha1(json.dumps([prompt_key(prompt), text1, text2], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]


def draw_a_slot(rng: random.Random | None = None) -> int:
    """Which slot is shown as A: 1 or 2 with equal odds, from an unpredictable coin by default."""
    return 2 if (rng or random.SystemRandom()).random() < 0.5 else 1


def serve_pair(
    prompt: Any, texts: list[str], sources: list[dict[str, Any]], pool: str = "default",
    rng: random.Random | None = None, pair_key: str = "", meta: dict[str, Any] | None = None,
    a_slot: int | None = None,
) -> dict[str, Any]:
    """A pair ready to show: texts/sources given in slot order (1, 2), shown in random order.

    a_slot fixes the order when the coin was already tossed (the arena tosses it before streaming).

    Returns a plain dict (fits in gr.State): prompt, texts/sources as shown (index 0 = A), a_slot
    (1 or 2: which slot is shown as A), pair_key, pool, shown_at, meta, voted.
    """
    if len(texts) != 2 or len(sources) != 2:
        raise PrefsError("A pair needs exactly two outputs.")
    if a_slot is None:
        a_slot = draw_a_slot(rng)
    swap = a_slot == 2
    order = [1, 0] if swap else [0, 1]
    return {
        "prompt": prompt,
        "texts": [texts[i] for i in order],
        "sources": [dict(sources[i]) for i in order],
        "a_slot": 2 if swap else 1,
        "pair_key": pair_key or make_pair_key(prompt, texts[0], texts[1]),
        "pool": (pool or "default").strip() or "default",
        "shown_at": time.time(),
        "meta": dict(meta or {}),
        "voted": False,
    }


def _rating(v: Any) -> int | None:
    if v in (None, "", 0):
        return None
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise PrefsError(f"A rating must be a whole number from 1 to 5, not {v!r}.") from None
    if not 1 <= iv <= 5:
        raise PrefsError(f"A rating must be from 1 to 5, not {iv}.")
    return iv


def check_vote(served: dict[str, Any] | None, choice: str) -> str:
    """The normalised choice when `served` may take this vote; PrefsError (one line) otherwise."""
    if not served or "texts" not in served:
        raise PrefsError("There is no pair to vote on yet: wait until both answers have finished, or generate one.")
    if served.get("voted"):
        raise PrefsError("This pair already has your vote: load the next one.")
    choice = (choice or "").strip().lower().replace(" ", "_")
    if choice not in CHOICES:
        raise PrefsError(f"Unknown choice '{choice}': use one of {', '.join(CHOICES)}.")
    return choice


def record_vote(
    ws: Workspace, served: dict[str, Any] | None, choice: str, annotator: str = "", reason: str = "",
    rating_a: Any = None, rating_b: Any = None, latency_ms: float | None = None,
) -> int:
    """Store one judgement of a served pair as a new row; returns its id.

    choice is a | b | tie | both_bad in terms of what was shown (A = served["texts"][0]). latency_ms
    defaults to the time from serving to now (how long the annotator took).
    """
    choice = check_vote(served, choice)
    assert served is not None
    if latency_ms is None and served.get("shown_at"):
        latency_ms = (time.time() - float(served["shown_at"])) * 1000
    meta = {**served.get("meta", {}), "a_slot": int(served.get("a_slot", 1)), "shown_at": served.get("shown_at")}
    row_id = ws.add_pair(
        pool=served.get("pool") or "default", prompt=served["prompt"], response_a=served["texts"][0],
        response_b=served["texts"][1], source_a=served["sources"][0], source_b=served["sources"][1],
        choice=choice, rating_a=_rating(rating_a), rating_b=_rating(rating_b), reason=(reason or "").strip(),
        annotator=(annotator or "").strip() or "anonymous", kind="vote", pair_key=served.get("pair_key", ""),
        latency_ms=latency_ms, meta=meta,
    )
    served["voted"] = True  # the caller keeps this dict (gr.State): a double click cannot store it twice
    return row_id


def slot_choice(row: dict[str, Any]) -> str:
    """A stored choice in slot terms: '1' / '2' (the winning slot), 'tie' or 'both_bad'."""
    c = row["choice"]
    if c not in ("a", "b"):
        return c
    a_slot = int((row.get("meta") or {}).get("a_slot", 1))
    return str(a_slot) if c == "a" else str(3 - a_slot)


def record_edit(
    ws: Workspace, prompt: Any, original: str, edited: str, annotator: str = "", pool: str = "default",
    source: dict[str, Any] | None = None, reason: str = "",
) -> int:
    """An edited answer becomes the chosen side of a new pair against the original (kind='edit')."""
    edited = (edited or "").strip()
    if not edited:
        raise PrefsError("The edited answer is empty.")
    if edited == (original or "").strip():
        raise PrefsError("The edit is identical to the original: change something first.")
    annotator = (annotator or "").strip() or "anonymous"
    return ws.add_pair(
        pool=(pool or "default").strip() or "default", prompt=prompt, response_a=edited, response_b=original,
        source_a={"kind": "human_edit", "annotator": annotator, "of": source or {}}, source_b=source or {},
        choice="a", reason=(reason or "").strip(), annotator=annotator, kind="edit",
        pair_key=make_pair_key(prompt, edited, original), meta={"a_slot": 1},
    )


def add_demonstration(ws: Workspace, dataset: str, prompt: Any, answer: str, annotator: str = "") -> int:
    """A human-written answer appended to an SFT dataset (created if missing) as a messages row."""
    answer = (answer or "").strip()
    dataset = (dataset or "").strip()
    if not answer:
        raise PrefsError("The answer is empty.")
    if not dataset:
        raise PrefsError("Name the SFT dataset the demonstration goes to.")
    row = {"messages": [*as_messages(prompt), {"role": "assistant", "content": answer}]}
    meta = {"source": "arena_demonstration", "annotator": (annotator or "").strip() or "anonymous",
            "time": time.time()}
    return ws.add_rows(dataset, [row], meta=meta, create=True)[0]


# -- workshop pool: the same pair served to several annotators --------------------------------------
def add_pool_pair(
    ws: Workspace, prompt: Any, texts: list[str], sources: list[dict[str, Any]], pool: str = "default",
) -> str:
    """Store an unjudged pair (choice NULL) that pool annotators will be served; returns its pair_key."""
    key = make_pair_key(prompt, texts[0], texts[1])
    ws.add_pair(pool=pool, prompt=prompt, response_a=texts[0], response_b=texts[1], source_a=sources[0],
                source_b=sources[1], choice=None, kind="vote", pair_key=key, meta={"template": True})
    return key


def next_pool_pair(
    ws: Workspace, pool: str, annotator: str, rng: random.Random | None = None,
) -> dict[str, Any] | None:
    """The pool pair this annotator has not judged yet that has the fewest judgements (random among equals),
    served in a fresh random order; None when the annotator has judged them all."""
    annotator = (annotator or "").strip() or "anonymous"
    rows = ws.open_pool_pairs(pool, annotator)
    if not rows:
        return None
    r = rng or random.SystemRandom()
    fewest = [x for x in rows if x["n"] == rows[0]["n"]]
    pick = r.choice(fewest)
    t = ws.get_pair(int(pick["id"]))
    return serve_pair(t["prompt"], [t["response_a"], t["response_b"]], [t["source_a"], t["source_b"]],
                      pool=pool, rng=r, pair_key=t["pair_key"], meta={"template_id": t["id"]})


# -- statistics ------------------------------------------------------------------------------------
def counts(ws: Workspace, pool: str | None, annotator: str) -> tuple[int, int]:
    """(this annotator's judgements, all judgements) in the pool."""
    return ws.count_judged(pool, (annotator or "").strip() or "anonymous"), ws.count_judged(pool)


def annotator_stats(ws: Workspace, pool: str | None = None) -> list[dict[str, Any]]:
    """Per annotator: judgements by kind and choice, mean rating, median seconds per vote."""
    by: dict[str, dict[str, Any]] = {}
    lat: dict[str, list[float]] = defaultdict(list)
    for r in ws.pairs(pool, judged_only=True):
        if r["kind"] == "import":
            continue
        s = by.setdefault(r["annotator"], {"annotator": r["annotator"], "votes": 0, "edits": 0, "a": 0, "b": 0,
                                           "tie": 0, "both_bad": 0})
        if r["kind"] == "edit":
            s["edits"] += 1
            continue
        s["votes"] += 1
        s[r["choice"]] += 1
        if r["latency_ms"] is not None:
            lat[r["annotator"]].append(float(r["latency_ms"]) / 1000)
    for name, s in by.items():
        xs = sorted(lat[name])
        s["median_s"] = round(xs[len(xs) // 2], 1) if xs else None
    return sorted(by.values(), key=lambda s: (-s["votes"], s["annotator"]))


def cohen_kappa(x: list[str], y: list[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None when undefined (one label only)."""
    n = len(x)
    if n == 0 or n != len(y):
        return None
    po = sum(a == b for a, b in zip(x, y, strict=True)) / n
    cx, cy = Counter(x), Counter(y)
    pe = sum(cx[k] * cy[k] for k in set(cx) | set(cy)) / (n * n)
    if pe >= 1.0:
        return None
    return (po - pe) / (1 - pe)


def agreement(ws: Workspace, pool: str | None = None) -> dict[str, Any]:
    """Agreement on pairs judged by several annotators (same pair_key), in slot terms.

    For every two annotators with overlapping pairs: the percent of identical labels and Cohen's kappa.
    The totals pool all annotator pairs (percent) and weight each pairwise kappa by its overlap.
    """
    labels: dict[str, dict[str, str]] = defaultdict(dict)  # pair_key -> annotator -> slot label (latest wins)
    for r in ws.pairs(pool, judged_only=True):
        if r["kind"] == "vote" and r["pair_key"]:
            labels[r["pair_key"]][r["annotator"]] = slot_choice(r)
    overlap: dict[tuple[str, str], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for by_ann in labels.values():
        names = sorted(by_ann)
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                xs, ys = overlap[(names[i], names[j])]
                xs.append(by_ann[names[i]])
                ys.append(by_ann[names[j]])
    table, agree, total, kw, kn = [], 0, 0, 0.0, 0
    for (a, b), (xs, ys) in sorted(overlap.items()):
        same = sum(p == q for p, q in zip(xs, ys, strict=True))
        k = cohen_kappa(xs, ys)
        table.append({"annotator_1": a, "annotator_2": b, "overlap": len(xs),
                      "agreement_pct": round(100 * same / len(xs), 1), "kappa": None if k is None else round(k, 3)})
        agree += same
        total += len(xs)
        if k is not None:
            kw += k * len(xs)
            kn += len(xs)
    multi = sum(1 for v in labels.values() if len(v) > 1)
    return {"pairs_with_several": multi, "comparisons": total,
            "agreement_pct": round(100 * agree / total, 1) if total else None,
            "kappa": round(kw / kn, 3) if kn else None, "by_pair": table}


def source_label(src: dict[str, Any]) -> str:
    """A short, stable name for a source in the win-rate table."""
    if not src:
        return "unknown"
    if src.get("kind"):
        return str(src["kind"])
    name = str(src.get("model", "?"))
    if src.get("adapter"):
        name += f" + {Path(str(src['adapter'])).name}"
    params = []
    if src.get("temperature") is not None:
        params.append(f"T={float(src['temperature']):g}")
    if src.get("top_p") is not None:
        params.append(f"top_p={float(src['top_p']):g}")
    return f"{name} ({', '.join(params)})" if params else name


def _battles(ws: Workspace, pool: str | None) -> list[tuple[str, str, float]]:
    """(source A, source B, score of A: 1 win / 0 loss / 0.5 tie or both-bad) from arena votes."""
    out = []
    for r in ws.pairs(pool, judged_only=True):
        if r["kind"] != "vote":
            continue
        a, b = source_label(r["source_a"]), source_label(r["source_b"])
        if a == b:
            continue  # identical settings: no information about which source is better
        out.append((a, b, {"a": 1.0, "b": 0.0}.get(r["choice"], 0.5)))
    return out


def _bradley_terry(battles: list[tuple[int, int, float]], n: int, iters: int = 200) -> Any:
    """Bradley-Terry strengths by Hunter's MM algorithm. Ties count half a win each way; every player also
    gets one virtual tie against a fixed reference of strength 1, which keeps unbeaten players finite."""
    import numpy as np

    wins = np.zeros((n, n))
    for i, j, s in battles:
        wins[i, j] += s
        wins[j, i] += 1 - s
    games = wins + wins.T
    w = wins.sum(axis=1) + 0.5
    p = np.ones(n)
    for _ in range(iters):
        new = w / ((games / (p[:, None] + p[None, :])).sum(axis=1) + 1.0 / (p + 1.0))
        done = np.max(np.abs(new - p)) < 1e-9
        p = new
        if done:
            break
    return p / math.exp(float(np.log(p).mean()))  # geometric mean 1: the average source rates 1000


def leaderboard(ws: Workspace, pool: str | None = None, n_boot: int = 200, seed: int = 0) -> list[dict[str, Any]]:
    """Win-rate table per source with Bradley-Terry ratings on the Elo scale (1000 + 400 log10 strength)
    and 95% bootstrap confidence intervals (battles resampled with replacement), as FastChat reports."""
    import numpy as np

    raw = _battles(ws, pool)
    if not raw:
        return []
    names = sorted({x for a, b, _ in raw for x in (a, b)})
    idx = {nm: i for i, nm in enumerate(names)}
    battles = [(idx[a], idx[b], s) for a, b, s in raw]

    def elo(bs: list[tuple[int, int, float]]) -> Any:
        return 1000 + 400 * np.log10(_bradley_terry(bs, len(names)))

    rating = elo(battles)
    rng = np.random.default_rng(seed)
    boots = np.array([elo([battles[k] for k in rng.integers(0, len(battles), len(battles))])
                      for _ in range(max(0, n_boot))]) if n_boot else np.empty((0, len(names)))
    rows = []
    for nm, i in idx.items():
        w = sum(s for a, _, s in battles if a == i and s == 1.0) + sum(1 for _, b, s in battles if b == i and s == 0.0)
        t = sum(1 for a, b, s in battles if i in (a, b) and s == 0.5)
        n = sum(1 for a, b, _ in battles if i in (a, b))
        lo, hi = (np.percentile(boots[:, i], [2.5, 97.5]) if len(boots) else (rating[i], rating[i]))
        rows.append({"source": nm, "battles": n, "wins": int(w), "losses": int(n - w - t), "ties": t,
                     "win_rate": round((w + 0.5 * t) / n, 3), "rating": round(float(rating[i]), 1),
                     "ci_low": round(float(lo), 1), "ci_high": round(float(hi), 1)})
    return sorted(rows, key=lambda r: -r["rating"])


__all__ = [
    "CHOICES", "PrefsError", "WorkspaceError", "add_demonstration", "check_vote", "draw_a_slot", "add_pool_pair",
    "agreement", "annotator_stats", "cohen_kappa", "counts", "leaderboard", "make_pair_key", "next_pool_pair",
    "record_edit", "record_vote", "serve_pair", "slot_choice", "source_label",
]
