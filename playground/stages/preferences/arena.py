"""The arena service: where the next pair comes from, how it is generated and served, how a vote is checked.

    arena = Arena(ws, cache=ctx.cached, rm_scores=pair_scorer(ws, ctx.cached))  # one per app; the RM judge from the UI
    for frame in arena.pairs(PairRequest(PromptMode.TYPED, prompt="Hi", sources=(s1, s2)), who):
        show(frame.texts, frame.ttft)                          # frame.served is set on the last frame
    result = arena.vote(frame.served, Vote("a", pool="default"), who)

Prompts come from a `PromptMode`: typed, a workspace dataset in order or at random, or a workshop-pool pair
prepared earlier. Dataset modes pre-generate the next pair while the annotator reads (prefetch.Prefetcher).
Which source is shown as A is a coin toss per pair (pairs.draw_a_slot), tossed before streaming.

A vote is refused (one line, nothing stored) when there is no pair, it already has a vote, the pool on screen is
not the pair's pool (the arena was switched to another round), the pair was on screen for less than
`Limits.min_vote_s` (a double key-press), or the user is over the votes-per-minute budget. When the user is
signed in, the vote is stored under the signed-in name, whatever the annotator box says.

No gradio here: the tab (ui/tabs/preferences.py) turns frames and results into component updates.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from playground.core import builtin
from playground.core.chat import as_messages, prompt_text
from playground.core.errors import PrefsError
from playground.core.generation import PairOutput, Source, generate_pair, load_model, stream_pair
from playground.core.limits import Limiter, Limits
from playground.core.runs import adapter_dir, base_model, read_status
from playground.core.workspace import Workspace
from playground.stages.preferences import judge as rm_judge
from playground.stages.preferences import pairs as prefs
from playground.stages.preferences.prefetch import Prefetcher

ADAPTER_STAGES = ("sft", "ppo", "dpo", "grpo", "rloo")


class PromptMode(StrEnum):
    """Where prompts come from; the value is the label the radio shows (and the API takes)."""

    TYPED = "Type a prompt"
    IN_ORDER = "Dataset, in order"
    AT_RANDOM = "Dataset, at random"
    POOL = "Workshop pool (judge shared pairs)"

    @property
    def from_dataset(self) -> bool:
        return self in (PromptMode.IN_ORDER, PromptMode.AT_RANDOM)

    @classmethod
    def parse(cls, value: str | None) -> PromptMode:
        try:
            return cls(value or cls.TYPED)
        except ValueError:
            raise PrefsError(f"Unknown prompt mode {value!r}: use one of {', '.join(m.value for m in cls)}.") from None


@dataclass
class SourceSetup:
    """One side as the form shows it: model, adapter (a run id, "" for the base model) and sampling."""

    model: str = "bundled"
    adapter: str = ""
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 128

    def source(self, max_new_tokens: Callable[[int], int] = lambda n: max(1, n)) -> Source:
        return Source(model=(self.model or "bundled").strip(), adapter=(self.adapter or "").strip(),
                      temperature=float(self.temperature), top_p=float(self.top_p),
                      max_new_tokens=max_new_tokens(int(self.max_new_tokens or 1)))


@dataclass
class ArenaSetup:
    """What another tab puts in the arena: two sources, the pool the votes go to, and where prompts come from."""

    sources: tuple[SourceSetup, SourceSetup]
    pool: str
    mode: PromptMode
    dataset: str | None = None  # for the dataset modes
    prompt: str | None = None  # typed-prompt mode: put this in the box (None: leave the box as it is)
    judge: str | None = None  # a reward run id for the RM judge (None: leave the judge as it is)
    adapter_run: dict[str, Any] | None = None  # the workspace run behind an adapter, listed even if only stopped


@dataclass
class PairRequest:
    """Everything the form says about the next pair."""

    mode: PromptMode = PromptMode.TYPED
    prompt: str = ""
    dataset: str | None = None
    cursor: int = 0  # next row for "Dataset, in order"
    annotator: str = ""
    pool: str = "default"
    sources: tuple[SourceSetup, SourceSetup] = (SourceSetup(), SourceSetup(temperature=1.0))
    seed: int = -1  # -1: a random seed per pair


@dataclass(frozen=True)
class Who:
    """The person behind a request: the signed-in name ("" when auth is off) and the browser session."""

    name: str = ""
    session: str = ""

    @property
    def key(self) -> str:  # what per-user limits count
        return self.name or self.session or "anonymous"

    def annotator(self, typed: str) -> str:
        """Signed in: the signed-in name (a typed name cannot vote for someone else); else the typed one."""
        return self.name or (typed or "").strip() or "anonymous"


@dataclass
class Vote:
    choice: str  # a | b | tie | both_bad, in terms of what was shown
    annotator: str = ""
    reason: str = ""
    rating_a: Any = None
    rating_b: Any = None
    pool: str = ""  # the pool on screen now; "" skips the stale-pair check
    judge: str = rm_judge.JUDGE_OFF


@dataclass
class PairFrame:
    """One screen update while a pair loads; `served` is set once the pair may be voted on."""

    texts: list[str]
    ttft: list[str]
    prompt: str | None  # the prompt as text for the prompt box (None: leave it)
    cursor: int
    served: dict[str, Any] | None = None
    note: str = ""  # a one-line notice (pool exhausted, tokens capped)


@dataclass
class VoteResult:
    reveal: str
    counter: str
    served: dict[str, Any]  # the judged pair, now marked voted
    last: dict[str, Any] = field(default_factory=dict)  # what the edit box refers to (served + "better")
    edit_text: str = ""
    edit_prompt: str = ""


# -- pickers and texts ---------------------------------------------------------------------------------
def finished_runs(ws: Workspace, stage: str) -> list[dict[str, Any]]:
    """Runs that left a usable result: succeeded, or stopped after keeping an adapter."""
    def usable(r: dict[str, Any]) -> bool:
        state = read_status(r["run_dir"]).get("state")
        return state == "succeeded" or (state == "stopped" and adapter_dir(r["run_dir"]) is not None)

    try:
        return [r for r in ws.runs(stage) if usable(r)]
    except Exception:  # noqa: BLE001 - a broken run row must not break the tab
        return []


def adapter_choices(ws: Workspace, include: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Finished runs with an adapter; `include` adds one more run (e.g. a stopped PPO run that saved one)."""
    out = [("(none: base model)", "")]
    for stage in ADAPTER_STAGES:
        for r in finished_runs(ws, stage):
            if adapter_dir(r["run_dir"]) is not None:
                out.append((f"{r['id']} ({stage}, base {base_model(r['run_dir'])})", r["id"]))
    if include is not None and include["id"] not in [v for _, v in out]:
        out.append((f"{include['id']} ({include['stage']}, base {base_model(include['run_dir'])})", include["id"]))
    return out


def dataset_choices(ws: Workspace) -> list[str]:
    return [d["name"] for d in ws.list_datasets()]


def ttft_text(out: PairOutput | None, i: int) -> str:
    if out is not None and out.ttft_ms[i] is None and out.status:
        return f"⏳ {out.status}"  # the shared generator is full: where this pair stands in its queue
    if out is None or out.ttft_ms[i] is None:
        return "first token: …"
    extra = f" · {out.n_tokens[i]} tokens · {out.total_ms / 1000:.1f} s" if out.done else ""
    return f"first token: **{out.ttft_ms[i]:.0f} ms**{extra}"


def reveal_text(served: dict[str, Any], choice: str) -> str:
    verdict = {"a": "you preferred **A**", "b": "you preferred **B**", "tie": "you called it a **tie**",
               "both_bad": "you marked **both bad**"}[choice]
    a, b = (prefs.source_label(s) for s in served["sources"])
    return f"Last vote: {verdict}. **A** was `{a}` · **B** was `{b}`."


def pool_name(pool: str | None) -> str:
    return (pool or "").strip() or "default"


# -- prompts -------------------------------------------------------------------------------------------
def prompt_messages(row: dict[str, Any]) -> list[dict[str, str]] | None:
    """The prompt part of a dataset row (everything before the last assistant turn)."""
    from playground.core.chat import to_prompt_completion

    pc = to_prompt_completion(row)
    if pc is not None:
        return pc["prompt"]
    if isinstance(row.get("messages"), list):  # a prompt-only conversation
        msgs = [m for m in as_messages(row["messages"]) if m["role"] != "assistant"]
        return msgs or None
    if isinstance(row.get("prompt"), str) and row["prompt"].strip():
        return as_messages(row["prompt"])
    return None


BUILTIN_PROMPTS = "builtin:prompts"


def dataset_prompt(ws: Workspace, dataset: str | None, cursor: int, at_random: bool) -> tuple[list[dict], int]:
    """(prompt messages, next cursor) from a workspace dataset, or the built-in prompts (`builtin:prompts`, what
    PPO's tiny preset trains on: an arena round on such a run goes on through them)."""
    if not dataset:
        raise PrefsError("Pick a workspace dataset to draw prompts from.")
    if dataset == BUILTIN_PROMPTS:
        rows = [as_messages(t) for t in builtin.prompts()]
    else:
        rows = [p for p in (prompt_messages(r["data"]) for r in ws.rows(dataset)) if p]
    if not rows:
        raise PrefsError(f"Dataset '{dataset}' has no usable prompts.")
    if at_random:
        return random.choice(rows), cursor
    return rows[cursor % len(rows)], cursor + 1


# -- the service ---------------------------------------------------------------------------------------
class Arena:
    """Serves pairs and takes votes for one app; the caches and the background worker live here."""

    def __init__(self, ws: Workspace, cache: rm_judge.Cache | None = None, limits: Limits | None = None,
                 prefetcher: Prefetcher | None = None, rm_scores: rm_judge.PairScorer | None = None) -> None:
        self.ws = ws
        self.cache: rm_judge.Cache = cache or (lambda _key, load: load())
        self.rm_scores = rm_scores  # the RM judge (stages/reward/scorer.pair_scorer), passed in by the UI
        self.limiter = Limiter(limits or Limits.from_env())
        self.prefetcher = prefetcher or Prefetcher()

    def load(self, model: str, adapter: str) -> tuple[Any, Any]:
        return self.cache((model, adapter), lambda: load_model(model, adapter))

    def counter(self, pool: str, annotator: str) -> str:
        mine, total = prefs.counts(self.ws, pool_name(pool), annotator)
        return f"🗳️ **{annotator or 'anonymous'}:** {mine} votes · **pool total:** {total}"

    def sources(self, setups: tuple[SourceSetup, ...]) -> tuple[list[Source], str]:
        """The sources to generate from, with max new tokens clamped to the server's cap (and a note if it was)."""
        cap = self.limiter.limits.max_new_tokens
        capped = any(int(s.max_new_tokens or 1) > cap for s in setups)
        note = f"Max new tokens is capped at {cap} on this server." if capped else ""
        return [s.source(self.limiter.max_new_tokens) for s in setups], note

    # -- loading a pair ------------------------------------------------------------------------------
    def pairs(self, req: PairRequest, who: Who) -> Iterator[PairFrame]:
        """Load the next pair: a workshop-pool pair, a pre-generated one, or a fresh one streamed as it grows.
        Raises a UserError (one line) for a bad request or a user over the generation limit."""
        pool = pool_name(req.pool)
        if req.mode is PromptMode.POOL:
            s = prefs.next_pool_pair(self.ws, pool, who.annotator(req.annotator))
            if s is None:
                yield PairFrame(["", ""], ["", ""], None, req.cursor,
                                note=f"You have judged every shared pair in pool '{pool}'.")
                return
            yield PairFrame(list(s["texts"]), ["shared pair"] * 2, prompt_text(s["prompt"]), req.cursor, s)
            return
        sources, note = self.sources(req.sources)
        seed = None if req.seed < 0 else req.seed
        cursor = int(req.cursor or 0)
        pre = self._take_prefetch(req, who.session, sources)
        if pre is not None:
            the_prompt, out = pre
            next_cursor = cursor + (1 if req.mode is PromptMode.IN_ORDER else 0)
        else:
            the_prompt, next_cursor = self._plan(req)
            out = None
        a_slot = prefs.draw_a_slot()  # tossed now, so the stream already shows the hidden order
        order = [0, 1] if a_slot == 1 else [1, 0]
        if out is None:
            with self.limiter.generation(who.key):
                last = 0.0
                for step in stream_pair(the_prompt, sources, seed, self.load):
                    out = step
                    if step.done or time.perf_counter() - last > 0.08:  # ~12 UI updates a second
                        last = time.perf_counter()
                        shown = PairOutput([step.texts[i] for i in order], [step.ttft_ms[i] for i in order],
                                           step.total_ms, done=False, queue_position=step.queue_position,
                                           status=step.status)
                        yield PairFrame(shown.texts, [ttft_text(shown, 0), ttft_text(shown, 1)],
                                        prompt_text(the_prompt), cursor, note=note)
                        note = ""
        assert out is not None
        final = PairOutput([out.texts[i] for i in order], [out.ttft_ms[i] for i in order], out.total_ms,
                           [out.n_tokens[i] for i in order], done=True)
        s = prefs.serve_pair(the_prompt, out.texts, [src.to_dict() for src in out.sources], pool=pool,
                             a_slot=a_slot, meta={"ttft_ms": out.ttft_ms, "gen_ms": out.total_ms})
        yield PairFrame(final.texts, [ttft_text(final, 0), ttft_text(final, 1)], prompt_text(the_prompt),
                        next_cursor, s, note=note)
        self._start_prefetch(req, who.session, next_cursor, sources, seed)

    def _plan(self, req: PairRequest) -> tuple[Any, int]:
        if req.mode is PromptMode.TYPED:
            text = (req.prompt or "").strip()
            if not text:
                raise PrefsError("Type a prompt first (or draw prompts from a dataset).")
            return text, req.cursor
        return dataset_prompt(self.ws, req.dataset, int(req.cursor or 0), at_random=req.mode is PromptMode.AT_RANDOM)

    @staticmethod
    def _key(prompt: Any, req: PairRequest, sources: list[Source], seed: int | None) -> tuple:
        return (repr(prompt), req.dataset, tuple(repr(s) for s in sources), seed)

    def _start_prefetch(self, req: PairRequest, session: str, cursor: int, sources: list[Source],
                        seed: int | None) -> None:
        if not req.mode.from_dataset or not session:
            return
        try:
            nxt, _ = dataset_prompt(self.ws, req.dataset, cursor, at_random=req.mode is PromptMode.AT_RANDOM)
        except PrefsError:
            return
        self.prefetcher.start(session, self._key(nxt, req, sources, seed),
                              lambda: (nxt, generate_pair(nxt, sources, seed, self.load)))

    def _take_prefetch(self, req: PairRequest, session: str, sources: list[Source]) -> tuple[Any, PairOutput] | None:
        """The pre-generated pair when it matches what would be generated now (random mode: any of its prompts)."""
        seed = None if req.seed < 0 else req.seed
        if not req.mode.from_dataset:
            self.prefetcher.forget(session)
            return None
        if req.mode is PromptMode.IN_ORDER:
            try:
                want, _ = dataset_prompt(self.ws, req.dataset, int(req.cursor or 0), at_random=False)
            except PrefsError:
                return None
            return self.prefetcher.take(session, lambda k: k == self._key(want, req, sources, seed))
        return self.prefetcher.take(session, lambda k: k[1:] == self._key(None, req, sources, seed)[1:])

    def regenerate(self, served: dict[str, Any] | None, side: str, setups: tuple[SourceSetup, SourceSetup],
                   who: Who) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """A new sample for one side ("A" or "B") of the pair on screen, same source, new seed: yields (text so
        far, None) and finally (text, the updated pair)."""
        if not served or served.get("voted"):
            raise PrefsError("Generate a pair first.")
        i = 0 if side == "A" else 1
        slot = served["a_slot"] if i == 0 else 3 - served["a_slot"]
        (src,), _ = self.sources((setups[slot - 1],))
        out = None
        with self.limiter.generation(who.key):
            for out in stream_pair(served["prompt"], [src], None, self.load):
                yield out.texts[0], None
        assert out is not None
        texts = list(served["texts"])
        sources = [dict(x) for x in served["sources"]]
        texts[i], sources[i] = out.texts[0], out.sources[0].to_dict()
        slot_texts = texts if served["a_slot"] == 1 else texts[::-1]
        yield out.texts[0], {**served, "texts": texts, "sources": sources, "shown_at": time.time(),
                             "pair_key": prefs.make_pair_key(served["prompt"], slot_texts[0], slot_texts[1]),
                             "meta": {**served.get("meta", {}), "regenerated": side}}

    # -- voting --------------------------------------------------------------------------------------
    def vote(self, served: dict[str, Any] | None, vote: Vote, who: Who) -> VoteResult:
        """Check and store one vote (a UserError with one line when refused; nothing is stored then).

        With a judge picked, the RM scores both answers here, after the human clicked: the scores go into the
        stored row's meta ("rm") and the "RM says" badge joins the reveal. A failing judge only changes the badge."""
        choice = prefs.check_vote(served, vote.choice)
        assert served is not None
        if vote.pool and pool_name(vote.pool) != served.get("pool", "default"):
            raise PrefsError(f"This pair belongs to pool '{served.get('pool')}', not '{pool_name(vote.pool)}': "
                             "generate a new pair first.")
        shown_for = time.time() - float(served.get("shown_at") or 0)
        if shown_for < self.limiter.limits.min_vote_s:
            raise PrefsError(f"Vote ignored: that pair was on screen for {max(shown_for, 0):.1f} s; read it first.")
        self.limiter.vote(who.key)
        latency_ms, badge = None, ""
        if vote.judge and vote.judge != rm_judge.JUDGE_OFF:
            latency_ms = shown_for * 1000  # the annotator's time, not the annotator's plus the RM's
            scores, badge = rm_judge.judge_pair(self.rm_scores, vote.judge, served["prompt"], served["texts"][0],
                                                served["texts"][1])
            if scores is not None:
                served["meta"] = {**served.get("meta", {}),
                                  "rm": {"run": vote.judge, "score_a": scores[0], "score_b": scores[1]}}
                badge = rm_judge.badge_text(scores[0], scores[1], choice)
        name = who.annotator(vote.annotator)
        prefs.record_vote(self.ws, served, choice, name, vote.reason, vote.rating_a, vote.rating_b,
                          latency_ms=latency_ms)
        better = 1 if choice == "b" else 0  # what an edit starts from (A on a tie or both bad)
        reveal = reveal_text(served, choice) + (f"\n\n**{badge}**" if badge else "")
        return VoteResult(reveal, self.counter(served.get("pool", "default"), name), served,
                          {**served, "better": better}, served["texts"][better], edit_heading(served))


def edit_heading(served: dict[str, Any] | None) -> str:
    """What the edit box refers to: the prompt of the pair just judged."""
    if not served:
        return ""
    text = prompt_text(served["prompt"]).strip().replace("\n", " ")
    return f"**Prompt of the pair you just judged:** {text[:300] + ('…' if len(text) > 300 else '')}"
