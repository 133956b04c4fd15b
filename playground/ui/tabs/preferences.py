"""Preference arena tab: two answers side by side, the annotator votes, every vote is a training pair.

    build(ctx)   # inside a gr.Tab of playground/ui/app.py

Flow: pick two sources (model + optional finished SFT/PPO/DPO adapter + sampling settings), get a prompt
(typed, from a workspace dataset in order or at random, or a workshop-pool pair prepared earlier),
Generate streams both answers (one batched call when the sources share a model), the annotator votes
A / B / tie / both bad (keys 1 2 3 4), the sources are revealed, and the next pair - pre-generated while
the annotator read - appears at once. Ratings, an edited better answer (a new pair: edit over original)
and a hand-written answer (a demonstration row in an SFT dataset) are optional extras.

Which source is shown as A is a coin toss per pair (prefs.draw_a_slot), hidden until after the vote.
The pair being judged lives in gr.State (per browser session); the workspace DB is server-wide.

RM judge: pick a finished reward run under "RM judge (shown after your vote)" and, once a vote is cast, the
vote handler (and only it) scores both answers: the reveal gains "🤖 RM says: A (+0.83 vs −0.12) — agrees
with you" (a tie or both-bad vote shows just the scores) and the stored row's meta gets {"rm": {"run",
"score_a", "score_b"}}. A deleted or unfinished run only turns the badge into a one-line message.
`rm_badge(ctx, run_id, prompt, text_a, text_b, choice)` is the same verdict as a plain function.

Arena round from the PPO tab: `ArenaTargets` holds the inputs another tab may fill (both sources, pool, prompt
mode, dataset, prompt, RM judge); `build` registers it as `ctx.arena`, and the PPO tab's "Arena round: policy
vs reference" button fills it from an `ArenaSetup` (plain values) and switches to this tab.

API (gradio_client): /arena_generate (load or generate the next pair into the session), /arena_vote
(choice, annotator, reason, rating_a, rating_b, pool, judge="off") -> reveal text, counter text.
Element ids for browser tests: arena-generate, arena-skip, arena-vote-a, arena-vote-b, arena-vote-tie,
arena-vote-bad, arena-a, arena-b, arena-counter, arena-reveal, arena-annotator, arena-prompt, arena-rm-judge,
arena-pool.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.generation import PairOutput, Source, adapter_path, generate_pair, load_model, stream_pair
from playground.core.models import ModelError
from playground.core.paths import home
from playground.core.workspace import WorkspaceError
from playground.stages.preferences import pairs as prefs
from playground.stages.trainer import DataError
from playground.ui.context import AppContext

MODES = ["Type a prompt", "Dataset, in order", "Dataset, at random", "Workshop pool (judge shared pairs)"]
USER_ERRORS = (prefs.PrefsError, ModelError, WorkspaceError)
ADAPTER_STAGES = ("sft", "ppo", "dpo")

# keys 1-4 click the vote buttons while the arena is visible and no text field has the focus
KEYS_JS = """
if (!window.__arenaKeys) {
  window.__arenaKeys = true;
  const ids = {"1": "arena-vote-a", "2": "arena-vote-b", "3": "arena-vote-tie", "4": "arena-vote-bad"};
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat || !(ev.key in ids)) return;
    const t = ev.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    const el = document.getElementById(ids[ev.key]);
    const btn = el && (el.tagName === "BUTTON" ? el : el.querySelector("button"));
    if (!btn || btn.disabled || btn.offsetParent === null) return;  // hidden tab: do nothing
    ev.preventDefault();
    btn.click();
  });
}
"""

# Pre-generated next pairs, one per browser session (request.session_hash); a single worker keeps the
# background generation from competing with the pairs people are waiting for.
_PREFETCH: dict[str, tuple[tuple, Future]] = {}
_PREFETCH_LOCK = threading.Lock()
_PREFETCH_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arena-prefetch")


# -- helpers ------------------------------------------------------------------------------------------
def _source(model: str, adapter: str, temperature: float, top_p: float, max_tokens: float) -> Source:
    return Source(model=(model or "bundled").strip(), adapter=(adapter or "").strip(), temperature=float(temperature),
                  top_p=float(top_p), max_new_tokens=max(1, int(max_tokens)))


def _loader(ctx: AppContext) -> Any:
    def get(model: str, adapter: str) -> tuple[Any, Any]:
        return ctx.cached((model, adapter), lambda: load_model(model, adapter))

    return get


def _prompt_messages(row: dict[str, Any]) -> list[dict[str, str]] | None:
    """The prompt part of a dataset row (everything before the last assistant turn)."""
    from playground.stages.data import to_prompt_completion

    pc = to_prompt_completion(row)
    if pc is not None:
        return pc["prompt"]
    if isinstance(row.get("messages"), list):  # a prompt-only conversation
        msgs = [m for m in row["messages"] if m.get("role") != "assistant"]
        return msgs or None
    if isinstance(row.get("prompt"), str) and row["prompt"].strip():
        return [{"role": "user", "content": row["prompt"]}]
    return None


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    return users[-1] if users else ""


def _dataset_prompt(ctx: AppContext, dataset: str, cursor: int, at_random: bool) -> tuple[list[dict], int]:
    """(prompt messages, next cursor) from a workspace dataset."""
    if not dataset:
        raise prefs.PrefsError("Pick a workspace dataset to draw prompts from.")
    rows = [p for p in (_prompt_messages(r["data"]) for r in ctx.ws.rows(dataset)) if p]
    if not rows:
        raise prefs.PrefsError(f"Dataset '{dataset}' has no usable prompts.")
    if at_random:
        return random.choice(rows), cursor
    return rows[cursor % len(rows)], cursor + 1


def _ttft_md(out: PairOutput | None, i: int) -> str:
    if out is None or out.ttft_ms[i] is None:
        return "first token: …"
    extra = f" · {out.n_tokens[i]} tokens · {out.total_ms / 1000:.1f} s" if out.done else ""
    return f"first token: **{out.ttft_ms[i]:.0f} ms**{extra}"


def _counter_md(ctx: AppContext, pool: str, annotator: str) -> str:
    mine, total = prefs.counts(ctx.ws, (pool or "default").strip() or "default", annotator)
    name = (annotator or "").strip() or "anonymous"
    return f"🗳️ **{name}:** {mine} votes · **pool total:** {total}"


def _reveal_md(served: dict[str, Any], choice: str) -> str:
    verdict = {"a": "you preferred **A**", "b": "you preferred **B**", "tie": "you called it a **tie**",
               "both_bad": "you marked **both bad**"}[choice]
    a, b = (prefs.source_label(s) for s in served["sources"])
    return f"Last vote: {verdict}. **A** was `{a}` · **B** was `{b}`."


def run_base_model(run: dict[str, Any]) -> str:
    """The base model a run's adapter was trained on: result.json's base_model (a PPO or DPO run started from
    an SFT run trains over that run's base), else the run's configured model."""
    try:
        base = json.loads((Path(run["run_dir"]) / "result.json").read_text()).get("base_model")
    except (OSError, ValueError, AttributeError):
        base = None
    return str(base or run["config"].get("model", "bundled"))


def _adapter_choices(ctx: AppContext, include: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Finished runs with an adapter; `include` adds one more run (e.g. a stopped PPO run that saved one)."""
    out = [("(none: base model)", "")]
    for stage in ADAPTER_STAGES:
        try:
            runs = ctx.runs(stage, finished_only=True)
        except Exception:  # noqa: BLE001 - a broken run dir must not break the tab
            continue
        for r in runs:
            if (Path(r["run_dir"]) / "adapter").is_dir():
                out.append((f"{r['id']} ({stage}, base {run_base_model(r)})", r["id"]))
    if include is not None and include["id"] not in [v for _, v in out]:
        out.append((f"{include['id']} ({include['stage']}, base {run_base_model(include)})", include["id"]))
    return out


def _dataset_choices(ctx: AppContext) -> list[str]:
    return [d["name"] for d in ctx.ws.list_datasets()]


# -- the reward model as an automatic judge (computed only in the vote handler, after the human voted) ------
JUDGE_OFF = "off"


def _judge_choices(ctx: AppContext) -> list[tuple[str, str]]:
    out = [("off", JUDGE_OFF)]
    try:
        runs = ctx.runs("reward", finished_only=True)
    except Exception:  # noqa: BLE001 - a broken run dir must not break the tab
        return out
    for r in runs:
        if (Path(r["run_dir"]) / "adapter").is_dir():
            out.append((f"{r['id']} (base {r['config'].get('model', '?')})", r["id"]))
    return out


def rm_scores(ctx: AppContext, run_id: str, prompt: Any, text_a: str, text_b: str) -> tuple[float, float]:
    """The reward run's scores of the two shown answers (A, B); DataError/ModelError with one line on failure."""
    from playground.stages.reward import service as rm

    run = ctx.ws.get_run(run_id)
    run_dir = str(rm.reward_run_dir(run["run_dir"] if run else run_id))  # one-line error if gone or unfinished
    model, tok = ctx.cached(("rm", run_dir), lambda: rm.load_reward_model(run_dir))
    a, b = rm.score_batch(model, tok, [prompt, prompt], [text_a, text_b], batch_size=2)
    return a, b


def _signed(x: float) -> str:
    return f"{x:+.2f}".replace("-", "−")


def badge_text(score_a: float, score_b: float, choice: str) -> str:
    """The badge for scores already computed: which side the RM prefers and whether that matches the vote."""
    if choice not in ("a", "b"):  # a tie or both bad says nothing the RM could agree with
        return f"🤖 RM scores: A {_signed(score_a)} · B {_signed(score_b)}"
    if score_a == score_b:
        return f"🤖 RM says: tie ({_signed(score_a)} both) — disagrees with you"
    rm_pick = "a" if score_a > score_b else "b"
    hi, lo = (score_a, score_b) if rm_pick == "a" else (score_b, score_a)
    verdict = "agrees with you" if rm_pick == choice else "disagrees with you"
    return f"🤖 RM says: {rm_pick.upper()} ({_signed(hi)} vs {_signed(lo)}) — {verdict}"


def judge_pair(ctx: AppContext, run_id: str, prompt: Any, text_a: str, text_b: str) -> tuple[tuple[float, float] | None, str]:
    """((score A, score B), "") or (None, one-line message). Never raises: the vote must not depend on it."""
    try:
        return rm_scores(ctx, run_id, prompt, text_a, text_b), ""
    except (DataError, ModelError, WorkspaceError) as e:
        return None, f"🤖 RM judge unavailable: {e}"
    except Exception as e:  # noqa: BLE001 - a broken run must never lose the vote, only the badge
        first = str(e).splitlines()[0] if str(e) else ""
        return None, f"🤖 RM judge failed: {type(e).__name__}: {first}"


def rm_badge(ctx: AppContext, run_id: str, prompt: Any, text_a: str, text_b: str, choice: str) -> str:
    """The "RM says" line for a judged pair, or "" when no judge is picked; failures give a one-line message.

    Only the vote handler calls this: the badge must never colour the human's judgement."""
    if not run_id or run_id == JUDGE_OFF:
        return ""
    scores, err = judge_pair(ctx, run_id, prompt, text_a, text_b)
    return err if scores is None else badge_text(*scores, choice)


# -- filled from another tab (the PPO tab's arena round) ----------------------------------------------------
@dataclass
class SourceSetup:
    model: str
    adapter: str  # a run id, or "" for the base model
    temperature: float
    top_p: float
    max_new_tokens: int


@dataclass
class ArenaSetup:
    """What to put in the arena: two sources, the pool the votes go to, and where prompts come from."""

    sources: tuple[SourceSetup, SourceSetup]
    pool: str
    mode: str  # one of MODES
    dataset: str | None = None  # for the dataset modes
    prompt: str | None = None  # typed-prompt mode: put this in the box (None: leave the box as it is)
    judge: str | None = None  # a reward run id for the RM judge (None: leave the judge as it is)
    adapter_run: dict[str, Any] | None = None  # the workspace run behind an adapter, listed even if only stopped


@dataclass
class ArenaTargets:
    """The arena inputs another tab may set. `outputs` and `updates(setup)` line up one to one."""

    sides: list[list[Any]]  # per source: model, adapter, temperature, top-p, max new tokens
    pool: gr.Textbox
    mode: gr.Radio
    dataset: gr.Dropdown
    prompt: gr.Textbox
    cursor: gr.State
    judge: gr.Dropdown

    @property
    def outputs(self) -> list[Any]:
        return [c for side in self.sides for c in side] + [self.pool, self.mode, self.dataset, self.prompt,
                                                          self.cursor, self.judge]

    def updates(self, ctx: AppContext, setup: ArenaSetup) -> list[Any]:
        adapters = _adapter_choices(ctx, setup.adapter_run)
        out: list[Any] = []
        for src in setup.sources:
            out += [src.model, gr.update(choices=adapters, value=src.adapter), src.temperature, src.top_p,
                    src.max_new_tokens]
        dataset = gr.update(choices=_dataset_choices(ctx), value=setup.dataset) if setup.dataset else gr.skip()
        judge = (gr.update(choices=_judge_choices(ctx), value=setup.judge) if setup.judge else gr.skip())
        return out + [setup.pool, setup.mode, dataset, setup.prompt if setup.prompt is not None else gr.skip(), 0,
                      judge]


# -- the tab -----------------------------------------------------------------------------------------
def build(ctx: AppContext) -> None:
    loader = _loader(ctx)
    models = list(dict.fromkeys([ctx.default_model, "bundled", "tiny"]))

    with gr.Row():
        annotator = gr.Textbox(label="Annotator name", placeholder="your name (kept in this browser)",
                               elem_id="arena-annotator", scale=2)
        pool = gr.Textbox(value="default", label="Pool", info="Votes are grouped by pool (one per workshop).",
                          scale=1, elem_id="arena-pool")
        counter = gr.Markdown(_counter_md(ctx, "default", ""), elem_id="arena-counter")
    saved_name = gr.BrowserState("", storage_key="playground-arena-annotator")

    with gr.Accordion("Sources (hidden from the annotator until the vote)", open=False):
        side_inputs: list[list[Any]] = []
        with gr.Row():
            for n, temp in ((1, 0.7), (2, 1.0)):
                with gr.Column():
                    gr.Markdown(f"**Source {n}**")
                    m = gr.Dropdown(models, value=ctx.default_model, label="Model", allow_custom_value=True)
                    ad = gr.Dropdown(_adapter_choices(ctx), value="", label="Adapter (finished run)",
                                     allow_custom_value=True)
                    t = gr.Slider(0.0, 2.0, value=temp, step=0.05, label="Temperature", info="0 = greedy")
                    tp = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="Top-p")
                    mx = gr.Slider(1, 512, value=128, step=1, label="Max new tokens")
                    side_inputs.append([m, ad, t, tp, mx])
        with gr.Row():
            seed = gr.Number(value=-1, precision=0, label="Seed (-1: random each pair)")
            refresh_runs = gr.Button("🔄 Refresh runs and datasets", size="sm")

    with gr.Row():
        mode = gr.Radio(MODES, value=MODES[0], label="Prompts from", scale=3)
        dataset = gr.Dropdown(_dataset_choices(ctx), value=None, label="Dataset", allow_custom_value=True, scale=1,
                              elem_id="arena-dataset")
    prompt = gr.Textbox(label="Prompt", lines=2, placeholder="Type a prompt, or draw one from a dataset",
                        elem_id="arena-prompt")
    with gr.Row():
        gen_btn = gr.Button("Generate ▶", variant="primary", elem_id="arena-generate")
        skip_btn = gr.Button("Skip ⏭", elem_id="arena-skip")
        regen_a = gr.Button("↻ Regenerate A", size="sm")
        regen_b = gr.Button("↻ Regenerate B", size="sm")
    with gr.Row(equal_height=True):
        with gr.Column():
            out_a = gr.Textbox(label="A", lines=10, max_lines=24, interactive=False, elem_id="arena-a")
            ttft_a = gr.Markdown("first token: …")
            rate_a = gr.Radio([1, 2, 3, 4, 5], value=None, label="Rate A (optional)")
        with gr.Column():
            out_b = gr.Textbox(label="B", lines=10, max_lines=24, interactive=False, elem_id="arena-b")
            ttft_b = gr.Markdown("first token: …")
            rate_b = gr.Radio([1, 2, 3, 4, 5], value=None, label="Rate B (optional)")
    reason = gr.Textbox(label="Reason (optional)", lines=1)
    with gr.Row():
        vote_btns = {
            "a": gr.Button("👈 A is better [1]", variant="primary", elem_id="arena-vote-a"),
            "b": gr.Button("👉 B is better [2]", variant="primary", elem_id="arena-vote-b"),
            "tie": gr.Button("🤝 Tie [3]", elem_id="arena-vote-tie"),
            "both_bad": gr.Button("👎 Both bad [4]", elem_id="arena-vote-bad"),
        }
    with gr.Row(equal_height=True):
        reveal = gr.Markdown("", elem_id="arena-reveal")
        judge = gr.Dropdown(_judge_choices(ctx), value=JUDGE_OFF, label="RM judge (shown after your vote)",
                            info="A finished reward run scores both answers once you have voted.",
                            allow_custom_value=True, scale=0, min_width=260, elem_id="arena-rm-judge")
        judge_refresh = gr.Button("🔄", size="sm", scale=0, min_width=40)
    gr.Markdown("Keys **1 2 3 4** vote when no text field has the focus.", elem_classes=["pg-help"])

    with gr.Accordion("✏️ Edit the better answer (becomes a new pair: your edit over the original)", open=False):
        edit_box = gr.Textbox(label="Edited answer (filled with the answer you preferred after a vote)", lines=6)
        edit_btn = gr.Button("Save edit as a pair")
        edit_msg = gr.Markdown("")
    with gr.Accordion("🖊️ Write the answer yourself (a demonstration for SFT)", open=False):
        demo_ds = gr.Textbox(value="demonstrations", label="SFT dataset (created if missing)")
        demo_box = gr.Textbox(label="Your answer to the current prompt", lines=6)
        demo_btn = gr.Button("Add demonstration")
        demo_msg = gr.Markdown("")
    with gr.Accordion("🤝 Workshop pool", open=False):
        gr.Markdown("Share the current pair so every annotator in the pool judges it (agreement needs overlap). "
                    "Annotators then pick **Workshop pool** under *Prompts from*.", elem_classes=["pg-help"])
        share_btn = gr.Button("Share this pair with the pool")
        share_msg = gr.Markdown("")
    with gr.Accordion("📊 Statistics", open=False):
        stats_btn = gr.Button("Refresh statistics")
        ann_df = gr.Dataframe(label="Annotators", interactive=False)
        agree_md = gr.Markdown("")
        board_df = gr.Dataframe(label="Win rate per source (Bradley-Terry, Elo scale, 95% bootstrap CI)",
                                interactive=False)
    with gr.Accordion("⬇️ Export (TRL preference format)", open=False):
        with gr.Row():
            ties = gr.Radio(list(prefs.TIES_OPTIONS), value="exclude", label="Ties")
            both_bad = gr.Radio(list(prefs.BOTH_BAD_OPTIONS), value="exclude", label="Both bad")
            fmt = gr.Radio(["jsonl", "parquet"], value="jsonl", label="Format")
            with_meta = gr.Checkbox(False, label="Add annotator / source / reason columns")
        export_btn = gr.Button("Export this pool")
        export_file = gr.File(label="Download", interactive=False)
        with gr.Row():
            hub_repo = gr.Textbox(label="Hub dataset (owner/name)", scale=3)
            hub_btn = gr.Button("Push to hub", scale=1)
        export_msg = gr.Markdown("")

    gr.HTML("", js_on_load=KEYS_JS, elem_id="arena-keys")  # installs the 1-4 shortcuts once per page
    served = gr.State(None)  # the pair on screen: prefs.serve_pair's dict
    last_voted = gr.State(None)  # the pair just judged (the edit refers to it)
    cursor = gr.State(0)  # next row for "Dataset, in order"
    vote_choice = gr.Textbox(visible=False)  # the API vote endpoint takes the choice as text
    vote_api = gr.Button(visible=False)
    src_inputs = [c for side in side_inputs for c in side]
    ctx.arena = ArenaTargets(sides=side_inputs, pool=pool, mode=mode, dataset=dataset, prompt=prompt, cursor=cursor,
                             judge=judge)

    # -- generation ----------------------------------------------------------------------------------
    def _plan(mode_v: str, dataset_v: str, prompt_v: str, cursor_v: int) -> tuple[Any, int]:
        if mode_v == MODES[0]:
            text = (prompt_v or "").strip()
            if not text:
                raise prefs.PrefsError("Type a prompt first (or draw prompts from a dataset).")
            return text, cursor_v
        return _dataset_prompt(ctx, dataset_v, int(cursor_v or 0), at_random=mode_v == MODES[2])

    def _prefetch_key(prompt_v: Any, sources: list[Source], seed_v: int) -> tuple:
        return (repr(prompt_v), tuple(repr(s) for s in sources), seed_v)

    def _start_prefetch(session: str, mode_v: str, dataset_v: str, cursor_v: int, sources: list[Source],
                        seed_v: int) -> None:
        if mode_v not in (MODES[1], MODES[2]) or not session:
            return
        try:
            nxt, _ = _dataset_prompt(ctx, dataset_v, cursor_v, at_random=mode_v == MODES[2])
        except USER_ERRORS:
            return
        key = _prefetch_key(nxt, sources, seed_v)
        fut = _PREFETCH_POOL.submit(
            lambda: (nxt, generate_pair(nxt, sources, None if seed_v < 0 else seed_v, loader)))
        with _PREFETCH_LOCK:
            _PREFETCH[session] = (key, fut)
            while len(_PREFETCH) > 256:  # forgotten sessions
                _PREFETCH.pop(next(iter(_PREFETCH)))

    def _take_prefetch(session: str, mode_v: str, dataset_v: str, cursor_v: int, sources: list[Source],
                       seed_v: int) -> tuple[Any, PairOutput] | None:
        """The pre-generated pair when it matches what would be generated now (random mode: any prompt)."""
        with _PREFETCH_LOCK:
            entry = _PREFETCH.pop(session, None)
        if entry is None or mode_v not in (MODES[1], MODES[2]):
            return None
        key, fut = entry
        if mode_v == MODES[1]:
            try:
                want, _ = _dataset_prompt(ctx, dataset_v, cursor_v, at_random=False)
            except USER_ERRORS:
                return None
            if key != _prefetch_key(want, sources, seed_v):
                return None
        elif key[1:] != (tuple(repr(s) for s in sources), seed_v):
            return None
        try:
            return fut.result(timeout=600)
        except Exception:  # noqa: BLE001 - a failed prefetch just means generating now
            return None

    def generate(mode_v: str, dataset_v: str, prompt_v: str, cursor_v: int, annotator_v: str, pool_v: str,
                 m1: str, a1: str, t1: float, p1: float, x1: float, m2: str, a2: str, t2: float, p2: float,
                 x2: float, seed_v: float, request: gr.Request):
        """Load the next pair into this session: a workshop-pool pair, a pre-generated one, or a fresh one
        streamed as it generates. Yields (A, B, ttft A, ttft B, served, prompt, cursor, rating A, rating B,
        reason)."""
        session = getattr(request, "session_hash", "") or ""
        pool_name = (pool_v or "").strip() or "default"
        try:
            if mode_v == MODES[3]:
                s = prefs.next_pool_pair(ctx.ws, pool_name, annotator_v)
                if s is None:
                    gr.Info(f"You have judged every shared pair in pool '{pool_name}'.")
                    yield "", "", "", "", None, gr.skip(), cursor_v, None, None, ""
                    return
                yield (s["texts"][0], s["texts"][1], "shared pair", "shared pair", s, _prompt_text(s["prompt"]),
                       cursor_v, None, None, "")
                return
            sources = [_source(m1, a1, t1, p1, x1), _source(m2, a2, t2, p2, x2)]
            seed_i = int(seed_v if seed_v is not None else -1)
            pre = _take_prefetch(session, mode_v, dataset_v, int(cursor_v or 0), sources, seed_i)
            if pre is not None:
                the_prompt, out = pre
                next_cursor = int(cursor_v or 0) + (1 if mode_v == MODES[1] else 0)
            else:
                the_prompt, next_cursor = _plan(mode_v, dataset_v, prompt_v, int(cursor_v or 0))
                out = None
            a_slot = prefs.draw_a_slot()  # tossed now, so the stream already shows the hidden order
            order = [0, 1] if a_slot == 1 else [1, 0]
            if out is None:
                last = 0.0
                for step in stream_pair(the_prompt, sources, None if seed_i < 0 else seed_i, loader):
                    out = step
                    if step.done or time.perf_counter() - last > 0.08:  # ~12 UI updates a second
                        last = time.perf_counter()
                        shown = PairOutput([step.texts[i] for i in order], [step.ttft_ms[i] for i in order],
                                           step.total_ms, done=False)
                        yield (shown.texts[0], shown.texts[1], _ttft_md(shown, 0), _ttft_md(shown, 1), None,
                               _prompt_text(the_prompt), cursor_v, None, None, "")
            assert out is not None
            final = PairOutput([out.texts[i] for i in order], [out.ttft_ms[i] for i in order], out.total_ms,
                               [out.n_tokens[i] for i in order], done=True)
            s = prefs.serve_pair(the_prompt, out.texts, [src.to_dict() for src in out.sources], pool=pool_name,
                                 a_slot=a_slot, meta={"ttft_ms": out.ttft_ms, "gen_ms": out.total_ms})
            yield (final.texts[0], final.texts[1], _ttft_md(final, 0), _ttft_md(final, 1), s,
                   _prompt_text(the_prompt), next_cursor, None, None, "")
            _start_prefetch(session, mode_v, dataset_v, next_cursor, sources, seed_i)
        except USER_ERRORS as e:
            gr.Warning(str(e))
            yield (gr.skip(),) * 10

    gen_outputs = [out_a, out_b, ttft_a, ttft_b, served, prompt, cursor, rate_a, rate_b, reason]
    gen_inputs = [mode, dataset, prompt, cursor, annotator, pool, *src_inputs, seed]
    gen_btn.click(generate, gen_inputs, gen_outputs, api_name="arena_generate", concurrency_limit=4)

    def skip(mode_v: str, dataset_v: str, prompt_v: str, cursor_v: int, annotator_v: str, pool_v: str,
             m1: str, a1: str, t1: float, p1: float, x1: float, m2: str, a2: str, t2: float, p2: float,
             x2: float, seed_v: float, request: gr.Request):
        """Drop the pair on screen without a row; dataset and pool modes move on to the next pair."""
        if mode_v == MODES[0]:
            yield "", "", "first token: …", "first token: …", None, gr.skip(), gr.skip(), None, None, ""
            return
        yield from generate(mode_v, dataset_v, prompt_v, cursor_v, annotator_v, pool_v, m1, a1, t1, p1, x1,
                            m2, a2, t2, p2, x2, seed_v, request)

    skip_btn.click(skip, gen_inputs, gen_outputs, api_visibility="private", concurrency_limit=4)

    def regenerate(side: str, served_v: dict | None, m1: str, a1: str, t1: float, p1: float, x1: float, m2: str,
                   a2: str, t2: float, p2: float, x2: float):
        """New sample for one side of the pair on screen (same source, new seed); the other side stays."""
        if not served_v or served_v.get("voted"):
            gr.Warning("Generate a pair first.")
            yield gr.skip(), gr.skip(), gr.skip()
            return
        i = 0 if side == "A" else 1
        slot = served_v["a_slot"] if i == 0 else 3 - served_v["a_slot"]
        src = _source(*( [m1, a1, t1, p1, x1] if slot == 1 else [m2, a2, t2, p2, x2]))
        try:
            out = None
            for out in stream_pair(served_v["prompt"], [src], None, loader):
                yield (gr.update(value=out.texts[0]) if i == 0 else gr.skip(),
                       gr.update(value=out.texts[0]) if i == 1 else gr.skip(), gr.skip())
        except USER_ERRORS as e:
            gr.Warning(str(e))
            yield gr.skip(), gr.skip(), gr.skip()
            return
        assert out is not None
        texts = list(served_v["texts"])
        sources = [dict(x) for x in served_v["sources"]]
        texts[i], sources[i] = out.texts[0], out.sources[0].to_dict()
        slot_texts = texts if served_v["a_slot"] == 1 else texts[::-1]
        new = {**served_v, "texts": texts, "sources": sources, "shown_at": time.time(),
               "pair_key": prefs.make_pair_key(served_v["prompt"], slot_texts[0], slot_texts[1]),
               "meta": {**served_v.get("meta", {}), "regenerated": side}}
        yield (gr.update(value=texts[0]) if i == 0 else gr.skip(),
               gr.update(value=texts[1]) if i == 1 else gr.skip(), new)

    def regenerate_a(*v: Any):
        yield from regenerate("A", *v)

    def regenerate_b(*v: Any):
        yield from regenerate("B", *v)

    regen_a.click(regenerate_a, [served, *src_inputs], [out_a, out_b, served], api_visibility="private")
    regen_b.click(regenerate_b, [served, *src_inputs], [out_a, out_b, served], api_visibility="private")

    # -- voting --------------------------------------------------------------------------------------
    def vote(choice: str, served_v: dict | None, annotator_v: str, reason_v: str, rating_a: Any, rating_b: Any,
             pool_v: str, judge_v: str = JUDGE_OFF) -> tuple[Any, ...]:
        """Store the vote; returns (reveal, counter, served, last voted, edit box, advance).

        A refused vote (no pair yet, already voted) only warns and returns advance=False, so the step that
        loads the next pair does nothing: a double click can neither store a second row nor skip a pair.
        With a judge picked, the RM scores both answers here, once the human has clicked: the scores go into
        the stored row's meta ("rm") and the "RM says" badge joins the reveal. A failing judge only changes
        the badge; the vote is stored all the same."""
        norm = (choice or "").strip().lower().replace(" ", "_")
        latency_ms, badge = None, ""
        if judge_v and judge_v != JUDGE_OFF and served_v and not served_v.get("voted") and norm in prefs.CHOICES:
            if served_v.get("shown_at"):  # the annotator's time, not the annotator's plus the RM's
                latency_ms = (time.time() - float(served_v["shown_at"])) * 1000
            scores, badge = judge_pair(ctx, judge_v, served_v["prompt"], served_v["texts"][0], served_v["texts"][1])
            if scores is not None:
                served_v["meta"] = {**served_v.get("meta", {}),
                                    "rm": {"run": judge_v, "score_a": scores[0], "score_b": scores[1]}}
                badge = badge_text(scores[0], scores[1], norm)
        try:
            prefs.record_vote(ctx.ws, served_v, choice, annotator_v, reason_v, rating_a, rating_b,
                              latency_ms=latency_ms)
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), False
        assert served_v is not None
        better = 1 if norm == "b" else 0  # what an edit starts from (A on a tie or both bad)
        reveal_v = _reveal_md(served_v, norm) + (f"\n\n**{badge}**" if badge else "")
        return (reveal_v, _counter_md(ctx, pool_v, annotator_v), served_v,
                {**served_v, "better": better}, served_v["texts"][better], True)

    advance = gr.State(False)  # set by a stored vote: the next pair may load
    vote_outputs = [reveal, counter, served, last_voted, edit_box, advance]
    vote_inputs = [served, annotator, reason, rate_a, rate_b, pool, judge]

    def api_vote(choice: str, served_v: dict | None, annotator: str, reason: str, rating_a: Any, rating_b: Any,
                 pool: str, judge: str = JUDGE_OFF) -> tuple[Any, ...]:
        """choice: a | b | tie | both_bad, for the pair this session loaded with /arena_generate; judge: a
        finished reward run id whose "RM says" verdict is appended to the reveal ("off": none)."""
        return vote(choice, served_v, annotator, reason, rating_a, rating_b, pool, judge)

    vote_api.click(api_vote, [vote_choice, *vote_inputs], vote_outputs, api_name="arena_vote", concurrency_limit=8)
    def after_vote(mode_v: str, dataset_v: str, prompt_v: str, cursor_v: int, annotator_v: str, pool_v: str,
                   m1: str, a1: str, t1: float, p1: float, x1: float, m2: str, a2: str, t2: float, p2: float,
                   x2: float, seed_v: float, advance_v: bool, request: gr.Request):
        """Dataset and pool modes: the next pair (pre-generated while the annotator read) follows a vote."""
        if mode_v == MODES[0] or not advance_v:
            yield (gr.skip(),) * len(gen_outputs)
            return
        yield from generate(mode_v, dataset_v, prompt_v, cursor_v, annotator_v, pool_v, m1, a1, t1, p1, x1,
                            m2, a2, t2, p2, x2, seed_v, request)

    for choice, btn in vote_btns.items():
        btn.click(lambda *v, _c=choice: vote(_c, *v), vote_inputs, vote_outputs, api_visibility="private",
                  concurrency_limit=8).then(after_vote, [*gen_inputs, advance], gen_outputs, api_visibility="private",
                                            concurrency_limit=4)

    def refresh_counter(annotator_v: str, pool_v: str) -> str:
        return _counter_md(ctx, pool_v, annotator_v)

    annotator.change(refresh_counter, [annotator, pool], counter, api_visibility="private")
    pool.change(refresh_counter, [annotator, pool], counter, api_visibility="private")
    for ev in (annotator.blur, annotator.submit):  # remembered in this browser for the next visit
        ev(lambda n: (n or "").strip(), annotator, saved_name, api_visibility="private")
    root = gr.context.Context.root_block
    if root is not None:
        root.load(lambda n: n or gr.skip(), saved_name, annotator, api_visibility="private")

    # -- richer feedback -----------------------------------------------------------------------------
    def save_edit(last_v: dict | None, edited: str, annotator_v: str, pool_v: str) -> str:
        """The edit of the answer preferred in the last vote -> a new pair (edit, original)."""
        if not last_v:
            return "⚠️ Vote on a pair first: the answer you preferred appears here to edit."
        i = int(last_v.get("better", 0))
        try:
            prefs.record_edit(ctx.ws, last_v["prompt"], last_v["texts"][i], edited, annotator_v, pool_v,
                              source=last_v["sources"][i])
        except USER_ERRORS as e:
            return f"⚠️ {e}"
        return "✅ Saved: your edit (chosen) over the original (rejected)."

    edit_btn.click(save_edit, [last_voted, edit_box, annotator, pool], edit_msg, api_visibility="private")

    def save_demo(served_v: dict | None, last_v: dict | None, prompt_v: str, ds: str, answer: str,
                  annotator_v: str) -> tuple[str, Any]:
        pair = served_v or last_v
        the_prompt = pair["prompt"] if pair else (prompt_v or "").strip()
        if not the_prompt:
            return "⚠️ There is no prompt: type one or draw one from a dataset.", gr.skip()
        try:
            prefs.add_demonstration(ctx.ws, ds, the_prompt, answer, annotator_v)
        except USER_ERRORS as e:
            return f"⚠️ {e}", gr.skip()
        return f"✅ Added to dataset '{ds.strip()}'.", ""

    demo_btn.click(save_demo, [served, last_voted, prompt, demo_ds, demo_box, annotator], [demo_msg, demo_box],
                   api_visibility="private")

    def share(served_v: dict | None, pool_v: str) -> str:
        if not served_v:
            return "⚠️ Generate a pair first."
        texts = served_v["texts"] if served_v["a_slot"] == 1 else served_v["texts"][::-1]
        sources = served_v["sources"] if served_v["a_slot"] == 1 else served_v["sources"][::-1]
        prefs.add_pool_pair(ctx.ws, served_v["prompt"], texts, sources, pool=(pool_v or "").strip() or "default")
        return f"✅ Shared with pool '{(pool_v or '').strip() or 'default'}'."

    share_btn.click(share, [served, pool], share_msg, api_visibility="private")

    # -- statistics and export -----------------------------------------------------------------------
    def stats(pool_v: str) -> tuple[pd.DataFrame, str, pd.DataFrame]:
        p = (pool_v or "").strip() or "default"
        ann = pd.DataFrame(prefs.annotator_stats(ctx.ws, p))
        ag = prefs.agreement(ctx.ws, p)
        if ag["comparisons"]:
            md = (f"**Agreement** on {ag['pairs_with_several']} pairs judged by several annotators: "
                  f"{ag['agreement_pct']}% identical, Cohen's κ = {ag['kappa']} ({ag['comparisons']} comparisons).")
        else:
            md = "**Agreement:** no pair has been judged by two annotators yet (share pairs with the pool)."
        board = pd.DataFrame(prefs.leaderboard(ctx.ws, p))
        return ann, md, board

    stats_btn.click(stats, pool, [ann_df, agree_md, board_df], api_visibility="private")

    def export(pool_v: str, ties_v: str, both_bad_v: str, fmt_v: str, meta_v: bool) -> tuple[Any, str]:
        p = (pool_v or "").strip() or "default"
        try:
            rows = prefs.export_pairs(pool=p, ties=ties_v, both_bad=both_bad_v, with_meta=meta_v, ws=ctx.ws)
            if not rows:
                return None, f"⚠️ Pool '{p}' has no judged pairs to export (ties/both-bad are excluded by default)."
            path = prefs.write_pairs(rows, home() / "exports" / f"prefs-{p}-{time.strftime('%Y%m%d-%H%M%S')}.{fmt_v}")
        except USER_ERRORS as e:
            return None, f"⚠️ {e}"
        return str(path), f"✅ {len(rows)} pairs → `{path}`"

    export_btn.click(export, [pool, ties, both_bad, fmt, with_meta], [export_file, export_msg],
                     api_visibility="private")

    def push(pool_v: str, ties_v: str, both_bad_v: str, repo: str) -> str:
        p = (pool_v or "").strip() or "default"
        try:
            rows = prefs.export_pairs(pool=p, ties=ties_v, both_bad=both_bad_v, ws=ctx.ws)
            return f"✅ Pushed {len(rows)} pairs to {prefs.push_to_hub(rows, (repo or '').strip())}"
        except USER_ERRORS as e:
            return f"⚠️ {e}"

    hub_btn.click(push, [pool, ties, both_bad, hub_repo], export_msg, api_visibility="private")

    def refresh_lists(m_adapter1: str, m_adapter2: str) -> tuple[Any, Any, Any]:
        choices = _adapter_choices(ctx)
        return (gr.update(choices=choices), gr.update(choices=choices),
                gr.update(choices=_dataset_choices(ctx)))

    refresh_runs.click(refresh_lists, [side_inputs[0][1], side_inputs[1][1]],
                       [side_inputs[0][1], side_inputs[1][1], dataset], api_visibility="private")
    judge_refresh.click(lambda: gr.update(choices=_judge_choices(ctx)), None, judge, api_visibility="private")

    def on_adapter(run_id: str, model_v: str) -> Any:
        """Picking a run's adapter sets the model to the base it was trained on."""
        if not run_id:
            return gr.skip()
        run = ctx.ws.get_run(run_id)
        if run is None:
            try:
                adapter_path(run_id)
            except ModelError as e:
                gr.Warning(str(e))
            return gr.skip()
        return run_base_model(run) or model_v

    for m, ad, *_ in side_inputs:
        ad.change(on_adapter, [ad, m], m, api_visibility="private")

