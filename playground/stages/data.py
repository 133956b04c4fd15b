"""Load training data by name: a workspace dataset or a builtin:* set, as TRL-format rows.

Instruction rows become conversational prompt/completion (the last assistant turn is the completion),
so SFTTrainer's completion_only_loss masks everything before the answer. Preference rows are fitted into
max_length here (fit_preference_rows: truncate, not drop) before the reward and DPO trainers see them, and
too_few_pairs says when a split is too small for its accuracy to mean much.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.core import builtin
from playground.core.chat import to_prompt_completion  # noqa: F401 - re-exported for the trainers
from playground.core.errors import DataError
from playground.core.runs import write_status

MIN_SPLIT_ROWS = 4  # fewer rows get no eval split: one held-out row would be a quarter of the data or more


def _split(rows: list[Any], eval_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    if eval_fraction <= 0 or len(rows) < MIN_SPLIT_ROWS:
        return rows, []
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    n_eval = max(1, int(round(len(rows) * eval_fraction)))
    ev = set(idx[:n_eval])
    return [r for i, r in enumerate(rows) if i not in ev], [r for i, r in enumerate(rows) if i in ev]


def instruction_rows(name: str, eval_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, eval) rows in prompt/completion form; rows marked split=eval in the workspace are the eval set."""
    if name.startswith("builtin:"):
        if name != "builtin:instructions":
            raise DataError(f"dataset '{name}' is not an instruction set (use builtin:instructions)")
        raw = [(r, "train") for r in builtin.instructions()]
    else:
        from playground.core.workspace import Workspace, WorkspaceError

        try:
            raw = [(r["data"], r["split"]) for r in Workspace().rows(name)]
        except WorkspaceError as e:
            raise DataError(str(e)) from None
    conv = [(to_prompt_completion(r), s) for r, s in raw]
    usable = [(c, s) for c, s in conv if c is not None]
    if not usable:
        raise DataError(f"dataset '{name}' has no usable rows (need a user turn followed by an assistant answer)")
    marked_eval = [c for c, s in usable if s == "eval"]
    if marked_eval and len(marked_eval) == len(usable):
        raise DataError(f"dataset '{name}': all {len(usable)} usable rows are marked eval, none is left to train on "
                        "(mark some as train)")
    if marked_eval:
        return [c for c, s in usable if s != "eval"], marked_eval
    return _split([c for c, _ in usable], eval_fraction, seed)


def eval_split_note(n_train: int, n_eval: int, eval_fraction: float) -> str:
    """The run header's line when eval_fraction asks for an eval split the data is too small for ("" otherwise):
    such a run trains without eval (a one-row dataset, as the arena's "write the answer yourself" makes)."""
    if eval_fraction <= 0 or n_eval > 0:
        return ""
    return (f"No eval: {n_train} row{'' if n_train == 1 else 's'} {'is' if n_train == 1 else 'are'} too few for an eval "
            f"split (it needs {MIN_SPLIT_ROWS}); training without eval.")


VOTES_AND_BUILTIN = "workspace+builtin:prefs"  # my votes (every pool) and the built-in pairs, as one set


def preference_rows(name: str, eval_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, eval) preference rows {"prompt", "chosen", "rejected"} (conversational)."""
    if name == "builtin:prefs":
        rows = builtin.preferences()
    elif name == VOTES_AND_BUILTIN:  # a few votes of your own are too few alone; the built-in pairs fill in
        from playground.stages.preferences.rows import export_pairs

        rows = [*export_pairs(pool=None), *builtin.preferences()]
    elif name.startswith("builtin:"):
        raise DataError(f"dataset '{name}' is not a preference set (use builtin:prefs)")
    else:
        from playground.stages.preferences.rows import export_pairs  # the arena's pool(s) in TRL format

        pool = None if name in ("workspace", "") else name
        rows = export_pairs(pool=pool)
    if len(rows) < 2:
        raise DataError(f"preference set '{name}' has {len(rows)} usable pair(s); vote on at least 2 first")
    return _split(rows, eval_fraction, seed)


def prompt_rows(name: str) -> list[list[dict[str, str]]]:
    """Prompts as chat message lists, for PPO rollouts."""
    if name in builtin.PROMPT_SETS:  # builtin:prompts and the verifiable tasks' sets (core/builtin_tasks.py)
        texts = builtin.load(name)
        return [[{"role": "user", "content": t}] for t in texts]
    train, ev = instruction_rows(name, 0.0, 0)
    out = [r["prompt"] for r in train + ev]
    if not out:
        raise DataError(f"dataset '{name}' has no prompts")
    return out


# -- fitting preference pairs into max_length --------------------------------------------------------------------
# TRL's RewardTrainer drops pairs longer than max_length and DPOTrainer cuts the end of the answer; dropping long
# conversations biases a reward model toward short exchanges. So pairs are fitted here first, before a trainer sees
# them: the answer stays whole where possible, and the prompt loses its start (whole earlier turns first, then the
# start of the earliest turn kept). Training and scoring (stages/reward/service.encode) fit the same way.
Messages = list[dict[str, str]]


@dataclass
class FitReport:
    """What fitting did to a set of pairs: kept as they were, truncated (start of the prompt cut; `answer_cut` of
    them also had an answer longer than max_length on its own cut at its end), dropped (could not fit at all)."""

    max_length: int
    kept: int = 0
    truncated: int = 0
    answer_cut: int = 0
    dropped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: FitReport) -> None:
        self.kept += other.kept
        self.truncated += other.truncated
        self.answer_cut += other.answer_cut
        self.dropped += other.dropped
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v

    def as_dict(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "kept": self.kept, "truncated": self.truncated,
                "answer_cut": self.answer_cut, "dropped": self.dropped, "drop_reasons": dict(self.reasons)}

    def line(self) -> str:
        total = self.kept + self.truncated + self.dropped
        s = f"{total} pairs at max_length {self.max_length}: {self.kept} kept whole, {self.truncated} truncated"
        if self.answer_cut:
            s += f" ({self.answer_cut} with an answer cut at its end)"
        s += f", {self.dropped} dropped"
        if self.reasons:
            s += " (" + "; ".join(f"{n} {why}" for why, n in self.reasons.items()) + ")"
        return s


def _template_len(tok: Any, msgs: Messages) -> int:
    return len(tok.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"])


def _answer_msgs(answer: Any) -> Messages:
    if isinstance(answer, str):
        return [{"role": "assistant", "content": answer}]
    return [{"role": str(m.get("role", "assistant")), "content": str(m.get("content", ""))} for m in answer]


def _cut(tok: Any, text: str, n: int, keep: str) -> str:
    """The last (keep="end") or first (keep="start") n tokens of text, as text."""
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if n >= len(ids):
        return text
    if n <= 0:
        return ""
    return tok.decode(ids[len(ids) - n:] if keep == "end" else ids[:n])


def _largest(lo_fits: int, hi: int, fits: Any) -> int:
    """The largest n in [lo_fits, hi] with fits(n), given fits(lo_fits) (binary search; fits grows as n shrinks)."""
    lo = lo_fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def fit_pair(tok: Any, prompt: Any, answers: list[Any], max_length: int) -> tuple[Messages, list[Messages], str]:
    """(prompt, answers, how) with every prompt + answer through the chat template <= max_length tokens.

    how: "kept" (nothing cut), "truncated" (the prompt lost its start), "answer_cut" (an answer longer than
    max_length on its own lost its end as well), or "dropped: <reason>" (nothing fits; prompt and answers returned
    as given). All answers share the cut prompt, so a pair compares answers to the same context."""
    from playground.core.chat import as_messages

    msgs = as_messages(prompt)
    outs = [_answer_msgs(a) for a in answers]
    if any(not "".join(m["content"] for m in a).strip() for a in outs):
        return msgs, outs, "dropped: empty answer"

    def fits(p: Messages, alist: list[Messages] = outs) -> bool:
        return all(_template_len(tok, p + a) <= max_length for a in alist)

    if fits(msgs):
        return msgs, outs, "kept"
    # 1. whole turns off the start, keeping a user turn first (templates that insist on alternation stay happy)
    starts = [i for i in range(1, len(msgs)) if msgs[i]["role"] == "user"]
    for i in starts:
        if fits(msgs[i:]):
            return msgs[i:], outs, "truncated"
    # 2. the start of the earliest turn kept
    tail = msgs[starts[-1]:] if starts else msgs
    head = tail[0]
    n_tok = len(tok(head["content"], add_special_tokens=False)["input_ids"])

    def with_tail(n: int) -> Messages:
        return [{"role": head["role"], "content": _cut(tok, head["content"], n, "end")}, *tail[1:]]

    if fits(with_tail(1)):
        n = _largest(1, n_tok, lambda k: fits(with_tail(k)))
        return with_tail(n), outs, "truncated"
    # 3. an answer is too long on its own: keep a short end of the prompt and the start of each answer
    for keep in (min(n_tok, max(1, max_length // 8)), 1, 0):
        p = with_tail(keep)
        if not fits(p, [_answer_msgs("x")]):
            continue
        cut = []
        for a in outs:
            if fits(p, [a]):
                cut.append(a)
                continue
            text = "".join(m["content"] for m in a)
            n_a = len(tok(text, add_special_tokens=False)["input_ids"])

            def fits_answer(k: int, p: Messages = p, text: str = text) -> bool:
                return fits(p, [_answer_msgs(_cut(tok, text, k, "start"))])

            if not fits_answer(1):
                break
            cut.append(_answer_msgs(_cut(tok, text, _largest(1, n_a, fits_answer), "start")))
        else:
            return p, cut, "answer_cut"
    return msgs, outs, f"dropped: the chat template alone is longer than max_length={max_length}"


def fit_preference_rows(tok: Any, rows: list[dict[str, Any]], max_length: int) -> tuple[list[dict], FitReport]:
    """Rows {"prompt", "chosen", "rejected", ...} fitted into max_length (see fit_pair), and what was done."""
    report = FitReport(max_length)
    out = []
    for row in rows:
        prompt, (chosen, rejected), how = fit_pair(tok, row["prompt"], [row["chosen"], row["rejected"]], max_length)
        if how.startswith("dropped"):
            report.dropped += 1
            why = how.split(": ", 1)[1]
            report.reasons[why] = report.reasons.get(why, 0) + 1
            continue
        if how == "kept":
            report.kept += 1
        else:
            report.truncated += 1
            report.answer_cut += how == "answer_cut"
        out.append({**row, "prompt": prompt, "chosen": chosen, "rejected": rejected})
    return out, report


# -- is there enough data for the numbers to mean anything? ------------------------------------------------------
MIN_TRAIN_PAIRS = 50  # fewer and the RM memorises a handful of votes
MIN_EVAL_PAIRS = 20  # fewer and one pair moves eval accuracy by 5 points or more (1 pair: 0 or 1)


def too_few_pairs(n_train: int, n_eval: int) -> str:
    """A one-line warning when the pairs are too few for the accuracy to mean much; "" when there are enough."""
    problems = []
    if n_train < MIN_TRAIN_PAIRS:
        problems.append(f"{n_train} training pair{'' if n_train == 1 else 's'} (want at least {MIN_TRAIN_PAIRS})")
    if n_eval < MIN_EVAL_PAIRS:
        problems.append(f"{n_eval} held-out pair{'' if n_eval == 1 else 's'} (want at least {MIN_EVAL_PAIRS})")
    if not problems:
        return ""
    return ("Too little data for the numbers to mean much: " + " and ".join(problems)
            + ". Eval accuracy on so few pairs can read 1.0 by luck; vote on more pairs or import a preference file.")


def fitted_preference_rows(name: str, eval_fraction: float, seed: int, tok: Any,
                           max_length: int) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """(train, eval, data info): preference_rows fitted into max_length, for the reward and DPO trainers.

    data info holds the fit counts of each split, the pair counts the trainer sees, the too-few-pairs warning
    ("" when there are enough) and `notes`, the lines the run header shows."""
    train, ev = preference_rows(name, eval_fraction, seed)
    train_fit, tr = fit_preference_rows(tok, train, max_length)
    eval_fit, er = fit_preference_rows(tok, ev, max_length)
    if not train_fit:
        raise DataError(f"no training pair fits max_length={max_length}: {tr.line()}; raise max_length")
    both = FitReport(max_length)
    both.add(tr)
    both.add(er)
    warning = too_few_pairs(len(train_fit), len(eval_fit))
    notes = [f"Data: {len(train_fit)} train / {len(eval_fit)} eval pairs (eval accuracy is over "
             f"{len(eval_fit)} pair{'' if len(eval_fit) == 1 else 's'}). {both.line()}."]
    if warning:
        notes.append(f"⚠️ {warning}")
    return train_fit, eval_fit, {"train_pairs": len(train_fit), "eval_pairs": len(eval_fit), "fit": both.as_dict(),
                                 "fit_train": tr.as_dict(), "fit_eval": er.as_dict(), "warning": warning,
                                 "notes": notes}


def announce_data(run_dir: Path, info: dict[str, Any]) -> None:
    """The data lines of the run header (status.json `notes`), and the too-few-pairs warning on stderr."""
    if int(os.environ.get("RANK", "0")) != 0:  # one header, from the main process (not stages.trainer: it imports this)
        return
    keys = ("train_pairs", "eval_pairs", "fit") if "fit" in info else ("train_rows", "eval_rows")
    write_status(run_dir, notes=info["notes"], data={k: info[k] for k in keys if k in info})
    for line in info["notes"]:
        print(line, flush=True)
    if info.get("warning"):
        print(f"warning: {info['warning']}", file=sys.stderr, flush=True)


def preference_data_check(name: str, eval_fraction: float, seed: int = 0) -> str:
    """One line for the form, before a run starts: how many pairs each split will get, and the too-few warning.

    Cheap (no tokenizer): the counts are before fitting into max_length, which drops only pairs that cannot fit."""
    try:
        train, ev = preference_rows(name, eval_fraction, seed)
    except DataError as e:
        return f"⚠️ {e}"
    warning = too_few_pairs(len(train), len(ev))
    line = f"{len(train)} train / {len(ev)} eval pairs."
    return f"⚠️ {line} {warning}" if warning else f"✅ {line}"
