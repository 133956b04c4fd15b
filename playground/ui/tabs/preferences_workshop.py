"""The Preferences tab's extras under the arena: edit the preferred answer, write a demonstration, share a pair
with the workshop pool, statistics, export and push. Layout and wiring only; the services are
stages/preferences/pairs.py and io.py (export, push: the token is used once).

    extras = build(ctx, served=..., last_voted=..., prompt=..., annotator=..., pool=..., who=who)
    extras.edit_box, extras.edit_prompt    # filled by the arena's vote handler
    wire_pool(arena, extras, targets)      # "Pre-generate N pairs into the pool" reads the arena form

Pre-generating (stages/preferences/pool.py) runs while the button's event lives: the Stop button, or the host's
browser leaving (gradio closes the handler), stops it; the pairs finished so far stay in the pool.

Roles: edit and demonstration = annotator; statistics = viewer; sharing with the pool, pre-generating pairs into
it, export and push = admin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from playground.ui.guard import caller, needs
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


@dataclass
class Extras:
    edit_box: gr.Textbox  # the answer preferred in the last vote, to edit
    edit_prompt: gr.Markdown  # the prompt of that pair, shown above the box
    pool_n: gr.Slider  # how many pairs to pre-generate
    pool_go: gr.Button
    pool_stop: gr.Button
    pool_msg: gr.Markdown
    stats: list[Any]  # annotators table, agreement line, win-rate table: emptied when another pool is filled in


def build(ctx: AppContext, *, served: gr.State, last_voted: gr.State, prompt: gr.Textbox, annotator: gr.Textbox,
          pool: gr.Textbox, who: Callable[[], Who]) -> Extras:
    with gr.Accordion(i18n.t("arena.edit"), open=False):
        edit_prompt = gr.Markdown("", elem_id="arena-edit-prompt")
        edit_box = gr.Textbox(label=i18n.t("arena.edit_box"), lines=6,
                              elem_id="arena-edit")
        edit_btn = gr.Button(i18n.t("arena.edit_save"))
        edit_msg = gr.Markdown("")
    with gr.Accordion(i18n.t("arena.demo"), open=False):
        demo_ds = gr.Textbox(value="demonstrations", label=i18n.t("arena.demo_ds"))
        demo_box = gr.Textbox(label=i18n.t("arena.demo_box"), lines=6)
        demo_btn = gr.Button(i18n.t("arena.demo_add"))
        demo_msg = gr.Markdown("")
    with gr.Accordion(i18n.t("arena.pool_section"), open=False):
        gr.Markdown(i18n.t("arena.share_help"), elem_classes=["pg-help"])
        share_btn = gr.Button(i18n.t("arena.share"))
        share_msg = gr.Markdown("")
        gr.Markdown(i18n.t("arena.pregen_help"), elem_classes=["pg-help"])
        with gr.Row():
            pool_n = gr.Slider(1, pool_svc.MAX_POOL_PAIRS, value=20, step=1, label="Pairs (N)", scale=3)
            pool_go = gr.Button(i18n.t("arena.pregen"), scale=2)
            pool_stop = gr.Button(i18n.t("run.stop"), variant="stop", scale=1)
        pool_msg = gr.Markdown("", elem_id="arena-pool-pregenerate")
    with gr.Accordion(i18n.t("arena.stats"), open=False) as stats_box:
        stats_btn = gr.Button(i18n.t("arena.stats_refresh"))
        ann_df = gr.Dataframe(pd.DataFrame(columns=ANNOTATOR_COLUMNS), label=i18n.t("arena.annotators"), interactive=False)
        agree_md = gr.Markdown("")
        board_df = gr.Dataframe(pd.DataFrame(columns=BOARD_COLUMNS), interactive=False,
                                label=i18n.t("arena.board"))
    with gr.Accordion(i18n.t("arena.export_section"), open=False):
        with gr.Row():
            ties = gr.Radio(list(prefs.TIES_OPTIONS), value="exclude", label=i18n.t("arena.ties"))
            both_bad = gr.Radio(list(prefs.BOTH_BAD_OPTIONS), value="exclude", label=i18n.t("arena.both_bad"))
            fmt = gr.Radio(["jsonl", "parquet"], value="jsonl", label=i18n.t("ds.format"))
            with_meta = gr.Checkbox(False, label=i18n.t("arena.with_meta"))
        export_btn = gr.Button(i18n.t("arena.export"))
        export_file = gr.File(label=i18n.t("eval.download"), interactive=False)
        with gr.Row():
            hub_repo = gr.Textbox(label=i18n.t("arena.hub_repo"), scale=3)
            hub_token = gr.Textbox(label=i18n.t("sft.hub_token"), type="password", scale=2,
                                   info=i18n.t("ds.push_token_info"))
            hub_btn = gr.Button(i18n.t("arena.push_hub"), scale=1)
        export_msg = gr.Markdown("")

    @needs(Role.ANNOTATOR)
    def on_save_edit(last_v: dict | None, edited: str, annotator_v: str, pool_v: str) -> str:
        """The edit of the answer preferred in the last vote -> a new pair (edit, original)."""
        if not last_v:
            return "⚠️ Vote on a pair first: the answer you preferred appears here to edit."
        i = int(last_v.get("better", 0))
        try:
            prefs.record_edit(ctx.ws, last_v["prompt"], last_v["texts"][i], edited, who().annotator(annotator_v),
                              pool_v, source=last_v["sources"][i])
        except UserError as e:
            return f"⚠️ {e}"
        return "✅ Saved: your edit (chosen) over the original (rejected)."

    edit_btn.click(on_save_edit, [last_voted, edit_box, annotator, pool], edit_msg, api_visibility="private")

    @needs(Role.ANNOTATOR)
    def on_save_demo(served_v: dict | None, last_v: dict | None, prompt_v: str, ds: str, answer: str,
                     annotator_v: str) -> tuple[str, Any]:
        pair = served_v or last_v
        the_prompt = pair["prompt"] if pair else (prompt_v or "").strip()
        if not the_prompt:
            return "⚠️ There is no prompt: type one or draw one from a dataset.", gr.skip()
        try:
            prefs.add_demonstration(ctx.ws, ds, the_prompt, answer, who().annotator(annotator_v))
        except UserError as e:
            return f"⚠️ {e}", gr.skip()
        return f"✅ Added to dataset '{ds.strip()}'.", ""

    demo_btn.click(on_save_demo, [served, last_voted, prompt, demo_ds, demo_box, annotator], [demo_msg, demo_box],
                   api_visibility="private")

    def on_share(served_v: dict | None, pool_v: str) -> str:  # admin: it adds work for the whole pool
        if not served_v:
            return "⚠️ Generate a pair first."
        texts = served_v["texts"] if served_v["a_slot"] == 1 else served_v["texts"][::-1]
        sources = served_v["sources"] if served_v["a_slot"] == 1 else served_v["sources"][::-1]
        prefs.add_pool_pair(ctx.ws, served_v["prompt"], texts, sources, pool=pool_name(pool_v))
        return f"✅ Shared with pool '{pool_name(pool_v)}'."

    share_btn.click(on_share, [served, pool], share_msg, api_visibility="private")

    @needs(Role.VIEWER)
    def on_stats(pool_v: str) -> tuple[pd.DataFrame, str, pd.DataFrame]:
        return statistics(ctx, pool_v)

    stats_btn.click(on_stats, pool, [ann_df, agree_md, board_df], api_visibility="private")
    stats_box.expand(on_stats, pool, [ann_df, agree_md, board_df], api_visibility="private")  # current when opened

    def on_export(pool_v: str, ties_v: str, both_bad_v: str, fmt_v: str, meta_v: bool) -> tuple[Any, str]:
        p = pool_name(pool_v)
        try:
            rows = prefs_io.export_pairs(pool=p, ties=ties_v, both_bad=both_bad_v, with_meta=meta_v, ws=ctx.ws)
            if not rows:
                return None, f"⚠️ Pool '{p}' has no judged pairs to export (ties/both-bad are excluded by default)."
            path = prefs_io.write_pairs(rows, home() / "exports" / f"prefs-{p}-{time.strftime('%Y%m%d-%H%M%S')}.{fmt_v}")
        except UserError as e:
            return None, f"⚠️ {e}"
        return str(path), f"✅ {len(rows)} pairs → `{path.name}`"

    export_btn.click(on_export, [pool, ties, both_bad, fmt, with_meta], [export_file, export_msg],
                     api_visibility="private")

    def on_push(pool_v: str, ties_v: str, both_bad_v: str, repo: str, token: str) -> tuple[str, str]:
        p = pool_name(pool_v)
        try:
            rows = prefs_io.export_pairs(pool=p, ties=ties_v, both_bad=both_bad_v, ws=ctx.ws)
            url = prefs_io.push_to_hub(rows, (repo or "").strip(), (token or "").strip() or None)
        except UserError as e:
            return f"⚠️ {e}", ""  # the token box is cleared whatever happened
        return f"✅ Pushed {len(rows)} pairs to {url}", ""

    hub_btn.click(on_push, [pool, ties, both_bad, hub_repo, hub_token], [export_msg, hub_token],
                  api_visibility="private")
    return Extras(edit_box=edit_box, edit_prompt=edit_prompt, pool_n=pool_n, pool_go=pool_go, pool_stop=pool_stop,
                  pool_msg=pool_msg, stats=[ann_df, agree_md, board_df])


def wire_pool(arena: Arena, extras: Extras, targets: ArenaTargets) -> None:
    """The admin's "Pre-generate N pairs into the pool": the arena form's sources, pool, prompt mode and dataset."""
    running: dict[str, threading.Event] = {}  # browser session -> its run's stop flag

    def on_pregenerate(values: dict[Any, Any], progress: gr.Progress = gr.Progress()) -> Iterator[str]:
        req = targets.request(values)
        n = int(values[extras.pool_n] or 0)
        stop = threading.Event()
        session = caller().session
        running[session] = stop
        done, outcome = [0], {}

        def work() -> None:
            try:
                outcome["res"] = pool_svc.pregenerate(
                    arena, pool_svc.PoolRequest(n, req.pool, req.sources, req.mode, req.dataset, req.seed),
                    on_progress=lambda d, _t: done.__setitem__(0, d), should_stop=stop.is_set)
            except UserError as e:
                outcome["err"] = f"⚠️ {e}"
            except Exception as e:  # noqa: BLE001 - one line for the host, the pool keeps what was stored
                outcome["err"] = f"⚠️ Pre-generation failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"

        worker = threading.Thread(target=work, name="pool-pregenerate-ui", daemon=True)
        try:
            worker.start()
            shown = 0
            progress((0, n), desc="Pre-generating pairs", unit="pairs")
            yield f"⏳ 0 / {n} pairs stored in pool '{pool_name(req.pool)}' …"
            while worker.is_alive():
                worker.join(0.5)
                if done[0] != shown:  # a yield also lets gradio close this handler when the browser leaves
                    shown = done[0]
                    progress((shown, n), desc="Pre-generating pairs", unit="pairs")
                    yield f"⏳ {shown} / {n} pairs stored in pool '{pool_name(req.pool)}' …"
            yield outcome.get("err") or outcome["res"].message
        finally:
            stop.set()  # stopped, finished or the browser left: the engine rows are cancelled
            if running.get(session) is stop:
                running.pop(session)

    extras.pool_go.click(on_pregenerate, {*targets.form, extras.pool_n}, extras.pool_msg, api_visibility="private")

    def on_stop_pregenerate() -> str:  # admin, like starting it
        stop = running.get(caller().session)
        if stop is None:
            return "Nothing is being pre-generated from this page."
        stop.set()
        return "⏹️ Stopping after the pairs in progress …"

    extras.pool_stop.click(on_stop_pregenerate, None, extras.pool_msg, api_visibility="private")
