"""Dataset tab: make, import, check and export the instruction datasets everything downstream trains on.

    Rows     pick / create / delete a named dataset; edit rows in the table, delete, undo the last delete
    Add      instruction / optional input / response (+ system prompt), or a multi-turn conversation as JSON;
             "Draft a response" asks the current model and lets you edit before adding
    Import   JSON / JSONL / CSV / Parquet upload, a Hub dataset id, or a built-in starter: detected format and a
             preview first, manual column mapping, nothing lands until "Add to dataset"
    Check    validation report, duplicate groups with one-click drop, seeded train/eval split, length filter
    Tokens   a row through the model's chat template: trained tokens vs masked ones, as SFT will see them
    Export   JSONL / Parquet download in TRL format, or a push to the Hub (token used once, never saved)

Handlers call services (datasets_io, preview, generation, the workspace); a bad file raises gr.Warning and
changes nothing.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.models import ModelError
from playground.core.workspace import Workspace, WorkspaceError
from playground.stages.dataset import io as dio
from playground.stages.dataset.io import FormatError
from playground.ui.context import AppContext

TABLE_COLUMNS = ["id", "split", "system", "prompt", "response", "turns"]
DEFAULT_NAME = "my-dataset"
USER_ERRORS = (FormatError, WorkspaceError, ModelError, ValueError)


# -- services the handlers call (plain functions, testable without a browser) -----------------------------
@functools.lru_cache(maxsize=4)
def tokenizer_for(model: str) -> Any:
    """Tokenizers are small and shared by every session; models go through ctx.cached instead."""
    from playground.core import models

    return models.load_tokenizer(models.resolve(model))


def summarise_row(data: dict[str, Any]) -> tuple[str, str, str, int]:
    """(system, last user message, last response, user turns) of a stored row, for the table."""
    msgs = data.get("messages") or []
    system = msgs[0]["content"] if msgs and msgs[0].get("role") == "system" else ""
    users = [m for m in msgs if m.get("role") == "user"]
    prompt = users[-1]["content"] if users else ""
    response = msgs[-1]["content"] if msgs and msgs[-1].get("role") == "assistant" else ""
    return system, prompt, response, len(users)


def rows_frame(ws: Workspace, name: str | None) -> pd.DataFrame:
    if not name or not ws.has_dataset(name):
        return pd.DataFrame(columns=TABLE_COLUMNS)
    out = []
    for r in ws.rows(name):
        system, prompt, response, turns = summarise_row(r["data"])
        out.append([r["id"], r["split"], system, prompt, response, turns])
    return pd.DataFrame(out, columns=TABLE_COLUMNS)


def build_messages(system: str, instruction: str, inp: str, response: str) -> dict[str, Any]:
    """The form's fields as one canonical row; a missing response is kept as an empty draft to fill later."""
    if not (instruction or "").strip():
        raise FormatError("the instruction is empty: type what the user asks")
    user = instruction.strip() + (f"\n\n{inp.strip()}" if (inp or "").strip() else "")
    msgs = [{"role": "system", "content": system.strip()}] if (system or "").strip() else []
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": (response or "").strip()}]
    return {"messages": msgs}


def parse_conversation(text: str) -> dict[str, Any]:
    """A JSON list of {"role", "content"} messages (or {"messages": [...]}) from the multi-turn box."""
    try:
        obj = json.loads(text or "")
    except json.JSONDecodeError as e:
        raise FormatError(f"conversation JSON, line {e.lineno} column {e.colno}: {e.msg}") from None
    if isinstance(obj, dict):
        obj = obj.get("messages")
    rec = dio.Records("conversation", [{"messages": obj}], ["box"])
    rows, _ = dio.convert(rec, "messages")
    dio.check_import(rows, "conversation", ["box"])
    return rows[0]


def edit_row(data: dict[str, Any], system: str, prompt: str, response: str) -> dict[str, Any]:
    """Apply the table's system / prompt / response cells to a stored row (the last exchange of multi-turn)."""
    msgs = [dict(m) for m in data.get("messages") or []]
    has_sys = bool(msgs) and msgs[0].get("role") == "system"
    if (system or "").strip():
        if has_sys:
            msgs[0]["content"] = system
        else:
            msgs.insert(0, {"role": "system", "content": system})
    elif has_sys:
        msgs.pop(0)
    users = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
    if users:
        msgs[users[-1]]["content"] = prompt
    else:
        msgs.append({"role": "user", "content": prompt})
    if msgs[-1].get("role") == "assistant":
        msgs[-1]["content"] = response
    elif (response or "").strip():
        msgs.append({"role": "assistant", "content": response})
    return {**data, "messages": msgs}


def _cell(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def apply_table_edits(ws: Workspace, name: str, df: pd.DataFrame) -> int:
    """Write the edited cells back; returns the number of rows changed. Unknown ids are an error."""
    stored = {r["id"]: r for r in ws.rows(name)}
    changed, splits = 0, {}
    for rec in df.to_dict("records"):
        try:
            rid = int(rec["id"])
        except (TypeError, ValueError):
            raise FormatError(f"table row with id '{rec.get('id')}': ids cannot be edited") from None
        if rid not in stored:
            raise FormatError(f"row id {rid} is not in dataset '{name}' (reload the table)")
        old = stored[rid]
        new = edit_row(old["data"], _cell(rec.get("system")), _cell(rec.get("prompt")), _cell(rec.get("response")))
        split = _cell(rec.get("split")).strip() or old["split"]
        if split not in ("train", "eval"):
            raise FormatError(f"row id {rid}, field 'split': '{split}' is not train or eval")
        issues = [i for i in dio.validate([new]) if i.level == "error"]
        if issues:
            raise FormatError(f"row id {rid}, field '{issues[0].field}': {issues[0].message}")
        if new != old["data"]:
            ws.update_row(rid, new)
            changed += 1
        if split != old["split"]:
            splits[rid] = split
    if splits:
        ws.set_splits(splits)
    return changed + len(splits)


def dataset_rows(ws: Workspace, name: str | None, split: str | None = None) -> tuple[list[int], list[dict]]:
    if not name:
        raise FormatError("pick or create a dataset first")
    rs = ws.rows(name, split)
    return [r["id"] for r in rs], [r["data"] for r in rs]


def dup_frame(ws: Workspace, name: str, threshold: float) -> tuple[pd.DataFrame, list[int]]:
    """Duplicate groups as a table, and the row ids to drop (every member but the first of each group)."""
    ids, rows = dataset_rows(ws, name)
    groups = dio.find_duplicates(rows, threshold=threshold)
    out, drop = [], []
    for n, g in enumerate(groups, 1):
        gid = [ids[i] for i in g.rows]
        drop += gid[1:]
        text = dio.row_text(rows[g.rows[0]]).replace("\n", " ")
        out.append([n, g.kind, g.similarity, gid[0], ", ".join(map(str, gid[1:])), text[:120]])
    return pd.DataFrame(out, columns=["group", "kind", "similarity", "keep id", "drop ids", "text"]), drop


def validation_report(ws: Workspace, name: str, model: str, max_length: int) -> str:
    ids, rows = dataset_rows(ws, name)
    if not rows:
        return "The dataset is empty."
    tok = None
    note = ""
    try:
        tok = tokenizer_for(model)
    except ModelError as e:
        note = f"\n\n_Token lengths not checked: {e}_"
    issues = dio.validate(rows, tokenizer=tok, max_length=int(max_length) if max_length else None)
    errors = [i for i in issues if i.level == "error"]
    warns = [i for i in issues if i.level == "warning"]
    bad_rows = {i.row for i in issues}
    head = (f"**{len(rows)} rows checked** · {len(errors)} error(s) · {len(warns)} warning(s) · "
            f"{len(rows) - len(bad_rows)} rows clean")
    if not issues:
        return f"✅ {head}. Every row alternates user → assistant and fits in {int(max_length)} tokens.{note}"
    lines = [f"- {'❌' if i.level == 'error' else '⚠️'} row id **{ids[i.row]}**, field `{i.field}`: {i.message}"
             for i in issues[:50]]
    more = f"\n- … and {len(issues) - 50} more" if len(issues) > 50 else ""
    hint = ("\n\n_Empty responses are drafts: fill them in the table or with “Draft responses”. "
            "Rows with errors are skipped by training._")
    return f"{head}\n\n" + "\n".join(lines) + more + hint + note


def draft_responses(ctx: AppContext, model: str, adapter: str, prompts: list[list[dict[str, str]]],
                    temperature: float, max_new_tokens: int, seed: int = 0) -> list[str]:
    """Responses from the current model for chat prompts, in batches; the user edits them afterwards."""
    from playground.core import generation

    m, tok = ctx.cached((model, adapter or ""), lambda: generation.load_model(model, adapter or ""))
    src = generation.Source(model=model, adapter=adapter or "", temperature=float(temperature), top_p=0.95,
                            max_new_tokens=int(max_new_tokens))
    out: list[str] = []
    for start in range(0, len(prompts), 8):
        chunk = prompts[start:start + 8]
        res = generation.generate_batch(m, tok, chunk, [src] * len(chunk),
                                        [seed + start + i for i in range(len(chunk))])
        out += res.texts
    return out


def preview_frame(rows: list[dict[str, Any]], n: int = 8) -> pd.DataFrame:
    out = []
    for r in rows[:n]:
        system, prompt, response, turns = summarise_row(r)
        out.append([system, prompt, response, turns])
    return pd.DataFrame(out, columns=["system", "prompt", "response", "turns"])


# -- the tab --------------------------------------------------------------------------------------------
def build(ctx: AppContext) -> None:
    ws = ctx.ws

    def names() -> list[str]:
        return [d["name"] for d in ws.list_datasets()]

    def summary_md(name: str | None) -> str:
        if not name or not ws.has_dataset(name):
            return "_No dataset selected: create one, or just add a row (it goes to **my-dataset**)._"
        rs = ws.rows(name)
        n_eval = sum(r["split"] == "eval" for r in rs)
        drafts = sum(1 for r in rs if not summarise_row(r["data"])[2].strip())
        d = f" · ✏️ {drafts} without a response" if drafts else ""
        return f"**{name}** · {len(rs)} rows · train {len(rs) - n_eval} / eval {n_eval}{d}"

    first = (names() or [None])[0]
    undo = gr.State([])  # a stack of deleted row batches (per session): undo puts the last one back
    staged = gr.State(None)  # parsed import waiting for "Add to dataset": {"rows", "fmt", "source"}
    selected = gr.State(None)  # row id picked in the table

    with gr.Row(equal_height=True):
        dataset = gr.Dropdown(names(), value=first, label="Dataset", scale=3, elem_id="ds-dataset",
                              info="Named datasets in this workspace; SFT trains on the one you pick there.")
        new_name = gr.Textbox(label="New dataset name", placeholder="my-dataset", scale=2)
        create_btn = gr.Button("➕ Create dataset", scale=1)
        delete_btn = gr.Button("🗑 Delete dataset", variant="stop", scale=1)
    with gr.Row(visible=False) as confirm_row:
        confirm_md = gr.Markdown()
        confirm_yes = gr.Button("Yes, delete it", variant="stop")
        confirm_no = gr.Button("Cancel")
    with gr.Row(equal_height=True):
        model = gr.Dropdown(["bundled", "tiny"], value=ctx.default_model, label="Model (chat template & tokenizer)",
                            allow_custom_value=True, scale=3,
                            info="Used for token counts, the token preview and drafting responses.")
        max_len = gr.Number(256, precision=0, label="Max length (tokens)", scale=1,
                            info="SFT's max_length: longer rows are cut.")
    summary = gr.Markdown(summary_md(first))

    with gr.Tabs():
        with gr.Tab("Rows"):
            table = gr.Dataframe(rows_frame(ws, first), label="Rows", interactive=True, wrap=True, elem_id="ds-table",
                                 static_columns=[0, 5], max_height=520, column_widths=["6%", "8%", "16%", "32%",
                                                                                      "32%", "6%"])
            gr.Markdown("Edit cells, then **Save table edits**. Click a row to select it (for delete or the token "
                        "preview). Multi-turn rows show their last exchange; `split` is train or eval.",
                        elem_classes=["pg-help"])
            with gr.Row():
                save_btn = gr.Button("💾 Save table edits", variant="primary")
                del_row_btn = gr.Button("Delete selected row")
                undo_btn = gr.Button("↶ Undo last delete")
                reload_btn = gr.Button("🔄 Reload")
            row_msg = gr.Markdown()

        with gr.Tab("Add"):
            with gr.Row():
                with gr.Column(scale=3):
                    system_in = gr.Textbox(label="System prompt (optional)", lines=1)
                    instr_in = gr.Textbox(label="Instruction", lines=3, placeholder="Summarise this paragraph: …",
                                          elem_id="ds-instruction")
                    input_in = gr.Textbox(label="Input (optional)", lines=2,
                                          placeholder="Extra context appended under the instruction")
                    resp_in = gr.Textbox(label="Response", lines=4, elem_id="ds-response",
                                         placeholder="The answer you want the model to learn (may stay empty: "
                                                     "a draft to fill later)")
                    with gr.Row():
                        add_btn = gr.Button("Add row", variant="primary", elem_id="ds-add-row")
                        draft_one_btn = gr.Button("✨ Draft a response with the model")
                with gr.Column(scale=2):
                    gr.Markdown("**Multi-turn conversation** — a JSON list of messages; roles alternate "
                                "user → assistant after an optional system message.")
                    conv_in = gr.Code(value=json.dumps([
                        {"role": "system", "content": "You are concise."},
                        {"role": "user", "content": "What is the capital of Peru?"},
                        {"role": "assistant", "content": "Lima."},
                        {"role": "user", "content": "And its population?"},
                        {"role": "assistant", "content": "About ten million people live in Lima."},
                    ], indent=1, ensure_ascii=False), language="json", label="Conversation (JSON)", lines=12)
                    add_conv_btn = gr.Button("Add conversation")
            add_msg = gr.Markdown()

        with gr.Tab("Import"):
            with gr.Row():
                with gr.Column():
                    upload = gr.File(label="Upload JSON / JSONL / CSV / Parquet", elem_id="ds-upload",
                                     file_types=[".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet"])
                    fmt_in = gr.Dropdown(list(dio.FORMATS), value="auto", label="Format",
                                         info="auto detects alpaca, sharegpt, messages, prompt/completion, HH, text")
                    with gr.Accordion("Manual column mapping (when detection fails)", open=False) as map_acc:
                        map_instr = gr.Dropdown([], label="Instruction column", allow_custom_value=True)
                        map_input = gr.Dropdown([], label="Input column (optional)", allow_custom_value=True)
                        map_output = gr.Dropdown([], label="Response column", allow_custom_value=True)
                        map_system = gr.Dropdown([], label="System column (optional)", allow_custom_value=True)
                        map_btn = gr.Button("Preview with this mapping")
                with gr.Column():
                    starter = gr.Dropdown([(f"{k} — {v}", k) for k, v in dio.starters().items()],
                                          label="Start from a starter dataset")
                    starter_btn = gr.Button("Load starter")
                    with gr.Accordion("Hugging Face Hub dataset (needs network)", open=False):
                        hub_id = gr.Textbox(label="Hub dataset id", placeholder="tatsu-lab/alpaca")
                        hub_split = gr.Textbox("train", label="Split")
                        hub_btn = gr.Button("Load from the Hub")
            import_md = gr.Markdown("_Pick a file, a starter or a Hub dataset: you will see the detected format "
                                    "and a preview before anything is added._")
            import_preview = gr.Dataframe(preview_frame([]), label="Import preview", interactive=False, wrap=True,
                                          max_height=320)
            with gr.Row():
                import_target = gr.Textbox(label="Import into dataset", placeholder="(the selected dataset)",
                                           info="Existing name: rows are appended. New name: a dataset is made.")
                commit_btn = gr.Button("✅ Add to dataset", variant="primary", interactive=False)

        with gr.Tab("Check & clean"):
            with gr.Row():
                validate_btn = gr.Button("🔎 Validate")
            report = gr.Markdown()
            with gr.Accordion("Duplicates", open=True):
                with gr.Row():
                    threshold = gr.Slider(0.5, 1.0, value=0.8, step=0.05, label="Near-duplicate similarity",
                                          info="Character 5-gram Jaccard; 1.0 finds only exact copies "
                                               "(after case/punctuation folding).")
                    dup_btn = gr.Button("Find duplicates")
                dup_table = gr.Dataframe(label="Duplicate groups", interactive=False, wrap=True, max_height=300)
                drop_dups_btn = gr.Button("Drop duplicates (keep the first of each group)", interactive=False)
            with gr.Accordion("Train / eval split", open=True):
                with gr.Row():
                    eval_frac = gr.Slider(0.0, 0.5, value=0.1, step=0.05, label="Eval fraction")
                    split_seed = gr.Number(0, precision=0, label="Seed")
                    split_btn = gr.Button("Apply split")
            with gr.Accordion("Length filter", open=True):
                with gr.Row():
                    min_tok = gr.Number(1, precision=0, label="Min tokens")
                    max_tok = gr.Number(256, precision=0, label="Max tokens")
                    filter_btn = gr.Button("Drop rows outside the range")
            clean_msg = gr.Markdown()

        with gr.Tab("Token preview"):
            with gr.Row():
                prev_id = gr.Number(None, precision=0, label="Row id", info="Click a row in the Rows table, or type")
                only_completion = gr.Checkbox(True, label="completion only loss",
                                              info="As in SFT: train on the last response only.")
                prev_btn = gr.Button("Show tokens", variant="primary")
            prev_html = gr.HTML(elem_id="ds-token-preview")
            gr.Markdown("Exactly what SFT does with this row: the conversation is rendered with the model's chat "
                        "template; the **last** assistant reply is the completion (earlier turns are context); "
                        "only its tokens carry a loss.", elem_classes=["pg-help"])

        with gr.Tab("Draft responses"):
            gr.Markdown("Ask the current model to draft responses for rows that have none, then edit them in the "
                        "table — a demonstration is your corrected version, not the model's.")
            with gr.Row():
                adapter = gr.Textbox("", label="Adapter (optional)", placeholder="SFT run id")
                temp = gr.Slider(0.0, 1.5, value=0.7, step=0.05, label="Temperature")
                max_new = gr.Slider(8, 512, value=128, step=8, label="Max new tokens")
            draft_all_btn = gr.Button("✨ Draft responses for rows without one", variant="primary")
            draft_msg = gr.Markdown()

        with gr.Tab("Export"):
            with gr.Row():
                exp_fmt = gr.Radio(["jsonl", "parquet"], value="jsonl", label="File format")
                exp_style = gr.Radio([("messages", "messages"), ("prompt / completion", "prompt_completion")],
                                     value="messages", label="TRL format")
                exp_split = gr.Radio(["all", "train", "eval"], value="all", label="Rows")
            export_btn = gr.Button("⬇️ Export file", variant="primary")
            export_file = gr.File(label="Download", interactive=False)
            with gr.Accordion("Push to the Hugging Face Hub", open=False):
                with gr.Row():
                    push_repo = gr.Textbox(label="Hub dataset repo", placeholder="your-name/my-dataset")
                    push_token = gr.Textbox(label="Hub token", type="password",
                                            info="Used for this push only; never saved or logged.")
                    push_private = gr.Checkbox(True, label="Private")
                push_btn = gr.Button("Push to the Hub")
            export_msg = gr.Markdown()

    # -- handlers -----------------------------------------------------------------------------------------
    def refresh(name: str | None) -> tuple[Any, Any, str]:
        return gr.update(choices=names(), value=name), rows_frame(ws, name), summary_md(name)

    ds_outputs = [dataset, table, summary]

    def on_pick(name: str | None) -> tuple[Any, str]:
        return rows_frame(ws, name), summary_md(name)

    def on_create(name: str) -> tuple[Any, ...]:
        try:
            ws.create_dataset(name)
        except WorkspaceError as e:
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (*refresh(name.strip()), "")

    def on_delete_ask(name: str | None) -> tuple[Any, str]:
        if not name:
            gr.Warning("Pick a dataset first.")
            return gr.update(visible=False), ""
        n = len(ws.rows(name))
        return gr.update(visible=True), f"Delete **{name}** and its {n} rows? This cannot be undone."

    def on_delete(name: str | None) -> tuple[Any, ...]:
        if name and ws.has_dataset(name):
            ws.delete_dataset(name)
            gr.Info(f"Deleted dataset {name}.")
        rest = names()
        return (*refresh(rest[0] if rest else None), gr.update(visible=False))

    def ensure_dataset(name: str | None) -> str:
        name = (name or "").strip() or DEFAULT_NAME
        if not ws.has_dataset(name):
            ws.create_dataset(name)
        return name

    def on_add(name: str | None, system: str, instr: str, inp: str, resp: str) -> tuple[Any, ...]:
        try:
            row = build_messages(system, instr, inp, resp)
            name = ensure_dataset(name)
            ws.add_rows(name, [row], meta={"source": "form"})
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return (gr.skip(),) * 7
        what = "Added a row" if resp.strip() else "Added a draft (no response yet)"
        return (*refresh(name), f"✅ {what} to **{name}**.", "", "", "")

    def on_add_conv(name: str | None, text: str) -> tuple[Any, ...]:
        try:
            row = parse_conversation(text)
            name = ensure_dataset(name)
            ws.add_rows(name, [row], meta={"source": "form"})
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return (gr.skip(),) * 4
        return (*refresh(name), f"✅ Added a {len(row['messages'])}-message conversation to **{name}**.")

    def on_draft_one(model_name: str, system: str, instr: str, inp: str, t: float, n: int) -> Any:
        try:
            row = build_messages(system, instr, inp, "")
            text = draft_responses(ctx, model_name, "", [row["messages"][:-1]], t, n)[0]
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return gr.skip()
        return text

    def on_select(df: pd.DataFrame, evt: gr.SelectData) -> tuple[Any, Any, str]:
        try:
            rid = int(df.iloc[evt.index[0]]["id"])
        except (IndexError, KeyError, TypeError, ValueError):
            return gr.skip(), gr.skip(), ""
        return rid, rid, f"Selected row id **{rid}**."

    def on_save(name: str | None, df: pd.DataFrame) -> tuple[Any, ...]:
        try:
            if not name:
                raise FormatError("pick a dataset first")
            n = apply_table_edits(ws, name, df)
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), f"⚠️ {e}"
        return rows_frame(ws, name), summary_md(name), f"💾 Saved {n} change(s)."

    def on_delete_row(name: str | None, rid: int | None, stack: list) -> tuple[Any, ...]:
        if rid is None:
            gr.Warning("Click a row in the table first.")
            return (gr.skip(),) * 4
        try:
            removed = ws.delete_rows([int(rid)])
        except WorkspaceError as e:
            gr.Warning(str(e))
            return (gr.skip(),) * 4
        return (rows_frame(ws, name), summary_md(name), [*stack, removed],
                f"Deleted row id {rid}. **Undo last delete** brings it back.")

    def on_undo(name: str | None, stack: list) -> tuple[Any, ...]:
        if not stack:
            gr.Info("Nothing to undo.")
            return (gr.skip(),) * 4
        try:
            ws.restore_rows(stack[-1])
        except (WorkspaceError, Exception) as e:  # noqa: BLE001 - e.g. the dataset was deleted meanwhile
            gr.Warning(f"Cannot undo: {str(e).splitlines()[0]}")
            return (gr.skip(),) * 4
        return rows_frame(ws, name), summary_md(name), stack[:-1], f"↶ Restored {len(stack[-1])} row(s)."

    # import: stage first, commit on request
    def staged_view(rows: list[dict], fmt: str, source: str, warnings: list[str]) -> tuple[Any, ...]:
        label = dio.FORMAT_LABELS.get(fmt, fmt)
        warn = ""
        if warnings:
            warn = "\n\n" + "\n".join(f"- ⚠️ {w}" for w in warnings[:5])
            warn += f"\n- … and {len(warnings) - 5} more" if len(warnings) > 5 else ""
        md = (f"**{source}** · detected **{label}** · {len(rows)} rows ready. Check the preview, then "
              f"**Add to dataset**.{warn}")
        return ({"rows": rows, "fmt": fmt, "source": source}, md, preview_frame(rows),
                gr.update(interactive=True))

    def stage_error(e: Exception) -> tuple[Any, ...]:
        gr.Warning(str(e))
        return None, f"⚠️ {e}", preview_frame([]), gr.update(interactive=False)

    def on_upload(file: str | None, fmt: str) -> tuple[Any, ...]:
        if not file:
            return (None, "", preview_frame([]), gr.update(interactive=False), *[gr.update(choices=[])] * 4,
                    gr.skip())
        src = Path(file).name
        cols: list[str] = []
        try:
            recs = dio.read_records(file, src)
            cols = recs.columns
            guess = dio.guess_mapping(cols)
            col_updates = [gr.update(choices=["", *cols], value=guess[k] or "")
                           for k in ("instruction", "input", "output", "system")]
            rows, used = dio.convert(recs, fmt)
            warnings = dio.check_import(rows, src, recs.where)
        except FormatError as e:
            out = stage_error(e)
            if cols:  # the file reads fine but its columns are unknown: open the mapping, pre-filled
                return (*out, *col_updates, gr.update(open=True))
            return (*out, *[gr.update(choices=[])] * 4, gr.skip())
        return (*staged_view(rows, used, src, warnings), *col_updates, gr.skip())

    def on_map(file: str | None, instr: str, inp: str, out: str, system: str) -> tuple[Any, ...]:
        if not file:
            gr.Warning("Upload a file first.")
            return (gr.skip(),) * 4
        src = Path(file).name
        try:
            recs = dio.read_records(file, src)
            mapping = {"instruction": instr, "input": inp, "output": out, "system": system}
            rows, used = dio.convert(recs, mapping=mapping)
            warnings = dio.check_import(rows, src, recs.where)
        except FormatError as e:
            return stage_error(e)
        return staged_view(rows, used, src, warnings)

    def on_starter(name: str | None) -> tuple[Any, ...]:
        if not name:
            gr.Warning("Pick a starter dataset.")
            return (gr.skip(),) * 5
        try:
            rows = dio.load_starter(name)
        except FormatError as e:
            return (*stage_error(e), gr.skip())
        return (*staged_view(rows, "starter", f"starter:{name}", []), f"starter-{name}")

    def on_hub(dataset_id: str, split: str, fmt: str) -> tuple[Any, ...]:
        try:
            rows, used = dio.load_hub(dataset_id, split, fmt)
            warnings = dio.check_import(rows, f"{dataset_id}:{split}")
        except FormatError as e:
            return stage_error(e)
        return staged_view(rows, used, f"{dataset_id}:{split}", warnings)

    def on_commit(stage: dict | None, target: str, current: str | None) -> tuple[Any, ...]:
        if not stage:
            gr.Warning("Nothing staged: upload a file or load a starter first.")
            return (gr.skip(),) * 6
        name = (target or "").strip() or current or DEFAULT_NAME
        try:
            res = dio.commit_import(ws, name, stage["rows"], stage["fmt"], stage["source"])
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return (gr.skip(),) * 6
        verb = "Created" if res.created else "Appended to"
        gr.Info(f"{verb} {res.name}: {res.rows} rows.")
        return (*refresh(res.name), None, f"✅ {verb} **{res.name}** with {res.rows} rows from {stage['source']}.",
                gr.update(interactive=False))

    # check & clean
    def on_validate(name: str | None, model_name: str, length: float) -> str:
        try:
            return validation_report(ws, name, model_name, int(length or 0))
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return f"⚠️ {e}"

    def on_dups(name: str | None, thr: float) -> tuple[Any, ...]:
        try:
            df, drop = dup_frame(ws, name, float(thr))
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), gr.skip()
        msg = (f"Found {len(df)} group(s); dropping keeps the first row of each and removes {len(drop)}."
               if len(df) else "✅ No duplicates found.")
        return df, gr.update(interactive=bool(drop), value=f"Drop {len(drop)} duplicate row(s)"), msg

    def drop_ids(name: str, ids: list[int], stack: list, what: str) -> tuple[Any, ...]:
        if not ids:
            return gr.skip(), gr.skip(), gr.skip(), f"Nothing to drop ({what})."
        removed = ws.delete_rows(ids)
        return (rows_frame(ws, name), summary_md(name), [*stack, removed],
                f"Dropped {len(ids)} row(s) ({what}). **Undo last delete** on the Rows tab brings them back.")

    def on_drop_dups(name: str | None, thr: float, stack: list) -> tuple[Any, ...]:
        try:
            _, drop = dup_frame(ws, name, float(thr))
            out = drop_ids(name, drop, stack, "duplicates")
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return (gr.skip(),) * 6
        return (*out, pd.DataFrame(), gr.update(interactive=False))

    def on_split(name: str | None, frac: float, seed: float) -> tuple[Any, ...]:
        try:
            ids, _ = dataset_rows(ws, name)
            splits = dio.assign_splits(len(ids), float(frac), int(seed or 0))
            ws.set_splits(dict(zip(ids, splits, strict=True)))
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), gr.skip()
        n_eval = splits.count("eval")
        return (rows_frame(ws, name), summary_md(name),
                f"Split with seed {int(seed or 0)}: {len(ids) - n_eval} train / {n_eval} eval. SFT uses rows "
                "marked eval as its eval set.")

    def on_filter(name: str | None, lo: float, hi: float, model_name: str, stack: list) -> tuple[Any, ...]:
        try:
            ids, rows = dataset_rows(ws, name)
            tok = tokenizer_for(model_name)
            _, drop = dio.length_filter(rows, int(lo or 0), int(hi or 0) or None,
                                        count=lambda r: dio.count_tokens(r, tok))
            return drop_ids(name, [ids[i] for i in drop], stack, f"outside {int(lo or 0)}–{int(hi or 0)} tokens")
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return (gr.skip(),) * 4

    # token preview
    def on_preview(rid: float | None, model_name: str, length: float, completion_only: bool) -> str:
        from playground.stages.dataset.preview import render_html, token_preview

        if rid is None:
            gr.Warning("Pick a row: click it in the Rows table or type its id.")
            return gr.skip()
        try:
            row = ws.get_row(int(rid))["data"]
            p = token_preview(row, tokenizer_for(model_name), int(length or 0) or None, bool(completion_only))
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return f"<p>⚠️ {e}</p>"
        return render_html(p)

    def on_draft_all(name: str | None, model_name: str, adapter_name: str, t: float, n: float,
                     progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        try:
            ids, rows = dataset_rows(ws, name)
            todo = [(i, r) for i, r in zip(ids, rows, strict=True) if not summarise_row(r)[2].strip()]
            if not todo:
                return gr.skip(), gr.skip(), "Every row already has a response."
            progress(0.05, desc=f"loading {model_name}")
            prompts = []
            for _, r in todo:
                msgs = [m for m in r["messages"] if str(m.get("content", "")).strip()]
                prompts.append(msgs[:-1] if msgs and msgs[-1]["role"] == "assistant" else msgs)
            texts = draft_responses(ctx, model_name, adapter_name, prompts, t, int(n))
            for (rid, r), text in zip(todo, texts, strict=True):
                ws.update_row(rid, edit_row(r, *summarise_row(r)[:2], text))
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), f"⚠️ {e}"
        return (rows_frame(ws, name), summary_md(name),
                f"✨ Drafted {len(todo)} response(s) with {model_name}. Read and correct them in the Rows table.")

    # export
    def on_export(name: str | None, fmt: str, style: str, split: str) -> tuple[Any, str]:
        try:
            _, rows = dataset_rows(ws, name, None if split == "all" else split)
            out = Path(tempfile.mkdtemp(prefix="pg-export-")) / f"{name}{'' if split == 'all' else '-' + split}.{fmt}"
            n = dio.export_rows(rows, out, fmt, style)
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return None, f"⚠️ {e}"
        skipped = len(rows) - n
        note = f" ({skipped} without a response skipped)" if skipped else ""
        return str(out), f"⬇️ {n} rows as {fmt} ({style}){note}."

    def on_push(name: str | None, repo: str, token: str, private: bool, style: str, split: str) -> tuple[str, str]:
        try:
            _, rows = dataset_rows(ws, name, None if split == "all" else split)
            url = dio.push_to_hub(rows, repo, token, style, bool(private))
        except USER_ERRORS as e:
            gr.Warning(str(e))
            return f"⚠️ {e}", ""
        return f"✅ Pushed {len(rows)} rows to {url}", ""  # the token box is cleared after use

    # -- wiring -------------------------------------------------------------------------------------------
    dataset.change(on_pick, [dataset], [table, summary], api_visibility="private")
    create_btn.click(on_create, [new_name], [*ds_outputs, new_name], api_name="datasets_create")
    delete_btn.click(on_delete_ask, [dataset], [confirm_row, confirm_md])
    confirm_yes.click(on_delete, [dataset], [*ds_outputs, confirm_row], api_name="datasets_delete")
    confirm_no.click(lambda: gr.update(visible=False), None, [confirm_row], api_visibility="private")
    add_btn.click(on_add, [dataset, system_in, instr_in, input_in, resp_in],
                  [*ds_outputs, add_msg, instr_in, input_in, resp_in], api_name="datasets_add_row")
    add_conv_btn.click(on_add_conv, [dataset, conv_in], [*ds_outputs, add_msg], api_name="datasets_add_conversation")
    draft_one_btn.click(on_draft_one, [model, system_in, instr_in, input_in, temp, max_new], [resp_in])
    table.select(on_select, [table], [selected, prev_id, row_msg], api_visibility="private")
    save_btn.click(on_save, [dataset, table], [table, summary, row_msg], api_name="datasets_save_table")
    del_row_btn.click(on_delete_row, [dataset, selected, undo], [table, summary, undo, row_msg])
    undo_btn.click(on_undo, [dataset, undo], [table, summary, undo, row_msg])
    reload_btn.click(on_pick, [dataset], [table, summary], api_visibility="private")
    map_outputs = [map_instr, map_input, map_output, map_system]
    stage_outputs = [staged, import_md, import_preview, commit_btn]
    upload.change(on_upload, [upload, fmt_in], [*stage_outputs, *map_outputs, map_acc], api_name="datasets_upload")
    fmt_in.change(on_upload, [upload, fmt_in], [*stage_outputs, *map_outputs, map_acc], api_visibility="private")
    map_btn.click(on_map, [upload, *map_outputs], stage_outputs)
    starter_btn.click(on_starter, [starter], [*stage_outputs, import_target], api_name="datasets_starter")
    hub_btn.click(on_hub, [hub_id, hub_split, fmt_in], stage_outputs)
    commit_btn.click(on_commit, [staged, import_target, dataset], [*ds_outputs, staged, import_md, commit_btn],
                     api_name="datasets_commit_import")
    validate_btn.click(on_validate, [dataset, model, max_len], [report], api_name="datasets_validate")
    dup_btn.click(on_dups, [dataset, threshold], [dup_table, drop_dups_btn, clean_msg], api_name="datasets_dups")
    drop_dups_btn.click(on_drop_dups, [dataset, threshold, undo],
                        [table, summary, undo, clean_msg, dup_table, drop_dups_btn])
    split_btn.click(on_split, [dataset, eval_frac, split_seed], [table, summary, clean_msg], api_name="datasets_split")
    filter_btn.click(on_filter, [dataset, min_tok, max_tok, model, undo], [table, summary, undo, clean_msg])
    prev_btn.click(on_preview, [prev_id, model, max_len, only_completion], [prev_html], api_name="datasets_preview")
    draft_all_btn.click(on_draft_all, [dataset, model, adapter, temp, max_new], [table, summary, draft_msg])
    export_btn.click(on_export, [dataset, exp_fmt, exp_style, exp_split], [export_file, export_msg],
                     api_name="datasets_export")
    push_btn.click(on_push, [dataset, push_repo, push_token, push_private, exp_style, exp_split],
                   [export_msg, push_token], api_visibility="private")
