"""The Preferences tab's extras under the arena: edit the preferred answer, write a demonstration, share a pair
with the workshop pool, statistics, export and push. Layout and wiring only; the services are
stages/preferences/pairs.py and io.py (export, push: the token is used once).

    extras = build(ctx, served=..., last_voted=..., prompt=..., annotator=..., pool=...)   # lays out and wires
    extras.edit_box, extras.edit_prompt    # filled by the arena's vote handler
    wire_pool(arena, extras, targets)      # "Pre-generate N pairs into the pool" reads the arena form

The handlers are this module's `on_*` functions: each takes the context and the `Extras` first and returns
{component: value} (or the one output's value).

Pre-generating (stages/preferences/pool.py) runs while the button's event lives: the Stop button, or the host's
browser leaving (gradio closes the handler), stops it; the pairs finished so far stay in the pool.

Roles: edit and demonstration = annotator; statistics = viewer; sharing with the pool, pre-generating pairs into
it, export and push = admin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.core.paths import home
from playground.stages.preferences import io as prefs_io
from playground.stages.preferences import pairs as prefs
from playground.stages.preferences import pool as pool_svc
from playground.stages.preferences.arena import Arena, Who, pool_name
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind, caller, needs
from playground.ui.widgets.arena_targets import ArenaTargets

ANNOTATOR_COLUMNS = ["annotator", "votes", "edits", "a", "b", "tie", "both_bad", "median_s"]
BOARD_COLUMNS = ["source", "battles", "wins", "losses", "ties", "win_rate", "rating", "ci_low", "ci_high"]


def empty_statistics() -> list[Any]:
    """What the statistics show for a pool just filled in by another tab, until they are refreshed."""
    return [pd.DataFrame(columns=ANNOTATOR_COLUMNS), "", pd.DataFrame(columns=BOARD_COLUMNS)]


def statistics(ctx: AppContext, pool_v: str) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """(annotators, agreement line, win rates) of a pool; the tables keep their columns when the pool is empty."""
    p = pool_name(pool_v)
    ann = pd.DataFrame(prefs.annotator_stats(ctx.ws, p), columns=ANNOTATOR_COLUMNS)
    ag = prefs.agreement(ctx.ws, p)
    if ag["comparisons"]:
        md = (f"**Agreement** on {ag['pairs_with_several']} pairs judged by several annotators: "
              f"{ag['agreement_pct']}% identical, Cohen's κ = {ag['kappa']} ({ag['comparisons']} comparisons).")
    else:
        md = "**Agreement:** no pair has been judged by two annotators yet (share pairs with the pool)."
    return ann, md, pd.DataFrame(prefs.leaderboard(ctx.ws, p), columns=BOARD_COLUMNS)


def who() -> Who:
    """Who is voting or editing: the signed-in name (if any) and this browser session."""
    c = caller()
    return Who(name=c.name, session=c.session)


@dataclass
class Extras:
    edit_prompt: gr.Markdown  # the prompt of the pair last voted on, shown above the box
    edit_box: gr.Textbox  # the answer preferred in the last vote, to edit
    edit_btn: gr.Button
    edit_msg: gr.Markdown
    demo_ds: gr.Textbox
    demo_box: gr.Textbox
    demo_btn: gr.Button
    demo_msg: gr.Markdown
    share_btn: gr.Button
    share_msg: gr.Markdown
    pool_n: gr.Slider  # how many pairs to pre-generate
    pool_go: gr.Button
    pool_stop: gr.Button
    pool_msg: gr.Markdown
    stats_box: gr.Accordion
    stats_btn: gr.Button
    ann_df: gr.Dataframe
    agree_md: gr.Markdown
    board_df: gr.Dataframe
    ties: gr.Radio
    both_bad: gr.Radio
    fmt: gr.Radio
    with_meta: gr.Checkbox
    export_btn: gr.Button
    export_file: gr.File
    hub_repo: gr.Textbox
    hub_token: gr.Textbox
    hub_btn: gr.Button
    export_msg: gr.Markdown
    running: dict[str, threading.Event] = field(default_factory=dict)  # browser session -> its pre-generation's stop

    @property
    def stats(self) -> list[Any]:
        """Annotators table, agreement line, win-rate table: emptied when another pool is filled in."""
        return [self.ann_df, self.agree_md, self.board_df]


# -- handlers ----------------------------------------------------------------------------------------------------
@needs(Role.ANNOTATOR)
def on_save_edit(ctx: AppContext, last_v: dict | None, edited: str, annotator_v: str, pool_v: str) -> str:
    """The edit of the answer preferred in the last vote -> a new pair (edit, original)."""
    if not last_v:
        return "⚠️ Vote on a pair first: the answer you preferred appears here to edit."
    i = int(last_v.get("better", 0))
    try:
        prefs.record_edit(ctx.ws, last_v["prompt"], last_v["texts"][i], edited, who().annotator(annotator_v),
                          pool_v, source=last_v["sources"][i])
    except UserError as e:
        return f"⚠️ {i18n.localise(e)}"
    return "✅ Saved: your edit (chosen) over the original (rejected)."


@needs(Role.ANNOTATOR)
def on_save_demo(ctx: AppContext, x: Extras, served_v: dict | None, last_v: dict | None, prompt_v: str, ds: str,
                 answer: str, annotator_v: str) -> dict[Any, Any]:
    pair = served_v or last_v
    the_prompt = pair["prompt"] if pair else (prompt_v or "").strip()
    if not the_prompt:
        return {x.demo_msg: "⚠️ There is no prompt: type one or draw one from a dataset."}
    try:
        prefs.add_demonstration(ctx.ws, ds, the_prompt, answer, who().annotator(annotator_v))
    except UserError as e:
        return {x.demo_msg: f"⚠️ {i18n.localise(e)}"}
    return {x.demo_msg: f"✅ Added to dataset '{ds.strip()}'.", x.demo_box: ""}


def on_share(ctx: AppContext, served_v: dict | None, pool_v: str) -> str:  # admin: it adds work for the whole pool
    if not served_v:
        return i18n.say("arena.generate_first")
    texts = served_v["texts"] if served_v["a_slot"] == 1 else served_v["texts"][::-1]
    sources = served_v["sources"] if served_v["a_slot"] == 1 else served_v["sources"][::-1]
    prefs.add_pool_pair(ctx.ws, served_v["prompt"], texts, sources, pool=pool_name(pool_v))
    return i18n.say("arena.shared", pool=pool_name(pool_v))


@needs(Role.VIEWER)
def on_stats(ctx: AppContext, x: Extras, pool_v: str) -> dict[Any, Any]:
    return dict(zip(x.stats, statistics(ctx, pool_v), strict=True))


def on_export(ctx: AppContext, x: Extras, pool_v: str, ties_v: str, both_bad_v: str, fmt_v: str,
              meta_v: bool) -> dict[Any, Any]:  # admin
    p = pool_name(pool_v)
    try:
        rows = prefs_io.export_pairs(pool=p, ties=ties_v, both_bad=both_bad_v, with_meta=meta_v, ws=ctx.ws)
        if not rows:
            return {x.export_file: None,
                    x.export_msg: i18n.say("arena.export_empty", pool=p)}
        path = prefs_io.write_pairs(rows, home() / "exports" / f"prefs-{p}-{time.strftime('%Y%m%d-%H%M%S')}.{fmt_v}")
    except UserError as e:
        return {x.export_file: None, x.export_msg: f"⚠️ {i18n.localise(e)}"}
    return {x.export_file: str(path), x.export_msg: i18n.say("arena.exported", n=len(rows), file=path.name)}


def on_push(ctx: AppContext, x: Extras, pool_v: str, ties_v: str, both_bad_v: str, repo: str,
            token: str) -> dict[Any, Any]:  # admin
    p = pool_name(pool_v)
    try:
        rows = prefs_io.export_pairs(pool=p, ties=ties_v, both_bad=both_bad_v, ws=ctx.ws)
        url = prefs_io.push_to_hub(rows, (repo or "").strip(), (token or "").strip() or None)
    except UserError as e:
        return {x.export_msg: f"⚠️ {i18n.localise(e)}", x.hub_token: ""}  # the token box is cleared whatever happened
    return {x.export_msg: i18n.say("arena.pushed", n=len(rows), url=url), x.hub_token: ""}


def on_pregenerate(arena: Arena, x: Extras, targets: ArenaTargets, values: dict[Any, Any],
                   progress: gr.Progress = gr.Progress()) -> Iterator[str]:  # admin
    """Pre-generate N pairs into the pool with the arena form's sources, pool, prompt mode and dataset."""
    req = targets.request(values)
    n = int(values[x.pool_n] or 0)
    stop = threading.Event()
    session = caller().session
    x.running[session] = stop
    done, outcome, lang = [0], {}, i18n.lang_now()  # the worker thread has no request: the caller's language

    def work() -> None:
        try:
            outcome["res"] = pool_svc.pregenerate(
                arena, pool_svc.PoolRequest(n, req.pool, req.sources, req.mode, req.dataset, req.seed),
                on_progress=lambda d, _t: done.__setitem__(0, d), should_stop=stop.is_set)
        except UserError as e:
            outcome["err"] = f"⚠️ {i18n.localise(e, lang)}"
        except Exception as e:  # noqa: BLE001 - one line for the host, the pool keeps what was stored
            outcome["err"] = i18n.text("arena.pregen_failed", lang,
                                        error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")

    worker = threading.Thread(target=work, name="pool-pregenerate-ui", daemon=True)
    try:
        worker.start()
        shown = 0
        progress((0, n), desc=i18n.say("pool.pregen_desc"), unit=i18n.say("pool.pairs_unit"))
        yield i18n.say("pool.pregen_progress", done=0, n=n, pool=pool_name(req.pool))
        while worker.is_alive():
            worker.join(0.5)
            if done[0] != shown:  # a yield also lets gradio close this handler when the browser leaves
                shown = done[0]
                progress((shown, n), desc=i18n.say("pool.pregen_desc"), unit=i18n.say("pool.pairs_unit"))
                yield i18n.say("pool.pregen_progress", done=shown, n=n, pool=pool_name(req.pool))
        yield outcome.get("err") or i18n.localise(outcome["res"].message)
    finally:
        stop.set()  # stopped, finished or the browser left: the engine rows are cancelled
        if x.running.get(session) is stop:
            x.running.pop(session)


def on_stop_pregenerate(x: Extras) -> str:  # admin, like starting it
    stop = x.running.get(caller().session)
    if stop is None:
        return "Nothing is being pre-generated from this page."
    stop.set()
    return "⏹️ Stopping after the pairs in progress …"


# -- layout ------------------------------------------------------------------------------------------------------
def _edit_demo_pool() -> dict[str, Any]:
    """Edit the preferred answer, write a demonstration, share with / pre-generate into the pool."""
    c: dict[str, Any] = {}
    with gr.Accordion(i18n.t("arena.edit"), open=False):
        c["edit_prompt"] = gr.Markdown("", elem_id="arena-edit-prompt")
        c["edit_box"] = gr.Textbox(label=i18n.t("arena.edit_box"), lines=6,
                                   elem_id="arena-edit")
        c["edit_btn"] = gr.Button(i18n.t("arena.edit_save"))
        c["edit_msg"] = gr.Markdown("")
    with gr.Accordion(i18n.t("arena.demo"), open=False):
        c["demo_ds"] = gr.Textbox(value="demonstrations", label=i18n.t("arena.demo_ds"))
        c["demo_box"] = gr.Textbox(label=i18n.t("arena.demo_box"), lines=6)
        c["demo_btn"] = gr.Button(i18n.t("arena.demo_add"))
        c["demo_msg"] = gr.Markdown("")
    with gr.Accordion(i18n.t("arena.pool_section"), open=False):
        gr.Markdown(i18n.t("arena.share_help"), elem_classes=["pg-help"])
        c["share_btn"] = gr.Button(i18n.t("arena.share"))
        c["share_msg"] = gr.Markdown("")
        gr.Markdown(i18n.t("arena.pregen_help"), elem_classes=["pg-help"])
        with gr.Row():
            c["pool_n"] = gr.Slider(1, pool_svc.MAX_POOL_PAIRS, value=20, step=1, label="Pairs (N)", scale=3)
            c["pool_go"] = gr.Button(i18n.t("arena.pregen"), scale=2)
            c["pool_stop"] = gr.Button(i18n.t("run.stop"), variant="stop", scale=1)
        c["pool_msg"] = gr.Markdown("", elem_id="arena-pool-pregenerate")
    return c


def _stats_export() -> dict[str, Any]:
    """Statistics of the pool; export to a file or push to the Hub."""
    c: dict[str, Any] = {}
    with gr.Accordion(i18n.t("arena.stats"), open=False) as c["stats_box"]:
        c["stats_btn"] = gr.Button(i18n.t("arena.stats_refresh"))
        c["ann_df"] = gr.Dataframe(pd.DataFrame(columns=ANNOTATOR_COLUMNS), label=i18n.t("arena.annotators"),
                                   interactive=False)
        c["agree_md"] = gr.Markdown("")
        c["board_df"] = gr.Dataframe(pd.DataFrame(columns=BOARD_COLUMNS), interactive=False,
                                     label=i18n.t("arena.board"))
    with gr.Accordion(i18n.t("arena.export_section"), open=False):
        with gr.Row():
            c["ties"] = gr.Radio(list(prefs.TIES_OPTIONS), value="exclude", label=i18n.t("arena.ties"))
            c["both_bad"] = gr.Radio(list(prefs.BOTH_BAD_OPTIONS), value="exclude", label=i18n.t("arena.both_bad"))
            c["fmt"] = gr.Radio(["jsonl", "parquet"], value="jsonl", label=i18n.t("ds.format"))
            c["with_meta"] = gr.Checkbox(False, label=i18n.t("arena.with_meta"))
        c["export_btn"] = gr.Button(i18n.t("arena.export"))
        c["export_file"] = gr.File(label=i18n.t("eval.download"), interactive=False)
        with gr.Row():
            c["hub_repo"] = gr.Textbox(label=i18n.t("arena.hub_repo"), scale=3)
            c["hub_token"] = gr.Textbox(label=i18n.t("sft.hub_token"), type="password", scale=2,
                                        info=i18n.t("ds.push_token_info"))
            c["hub_btn"] = gr.Button(i18n.t("arena.push_hub"), scale=1)
        c["export_msg"] = gr.Markdown("")
    return c


def build(ctx: AppContext, *, served: gr.State, last_voted: gr.State, prompt: gr.Textbox, annotator: gr.Textbox,
          pool: gr.Textbox) -> Extras:
    x = Extras(**_edit_demo_pool(), **_stats_export())
    x.edit_btn.click(bind(on_save_edit, ctx), [last_voted, x.edit_box, annotator, pool], x.edit_msg,
                     api_visibility="private")
    x.demo_btn.click(bind(on_save_demo, ctx, x), [served, last_voted, prompt, x.demo_ds, x.demo_box, annotator],
                     [x.demo_msg, x.demo_box], api_visibility="private")
    x.share_btn.click(bind(on_share, ctx), [served, pool], x.share_msg, api_visibility="private")
    x.stats_btn.click(bind(on_stats, ctx, x), pool, x.stats, api_visibility="private")
    x.stats_box.expand(bind(on_stats, ctx, x), pool, x.stats, api_visibility="private")  # current when opened
    x.export_btn.click(bind(on_export, ctx, x), [pool, x.ties, x.both_bad, x.fmt, x.with_meta],
                       [x.export_file, x.export_msg], api_visibility="private")
    x.hub_btn.click(bind(on_push, ctx, x), [pool, x.ties, x.both_bad, x.hub_repo, x.hub_token],
                    [x.export_msg, x.hub_token], api_visibility="private")
    return x


def wire_pool(arena: Arena, x: Extras, targets: ArenaTargets) -> None:
    """The admin's "Pre-generate N pairs into the pool": the arena form's sources, pool, prompt mode and dataset."""
    x.pool_go.click(bind(on_pregenerate, arena, x, targets), {*targets.form, x.pool_n}, x.pool_msg,
                    api_visibility="private")
    x.pool_stop.click(bind(on_stop_pregenerate, x), None, x.pool_msg, api_visibility="private")
