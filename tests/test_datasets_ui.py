"""The Dataset stage services (stages/dataset) and the tab's handlers through the running app (gradio_client, no
browser): the tab only lays out and wires, so everything is reached through a service or an endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from playground.core.errors import FormatError
from playground.stages.dataset import clean, draft, service

FIX = Path(__file__).parent / "fixtures" / "datasets"


@pytest.fixture
def ws(home):
    from playground.core.workspace import Workspace

    return Workspace()


def test_table_edits_round_trip(ws):
    ws.add_rows("d", [service.build_messages("", "Say hi", "", "Hi!"),
                      service.build_messages("Be brief.", "Add", "2+2", ""),
                      {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                    {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}],
                create=True)
    df = service.rows_frame(ws, "d")
    assert list(df["prompt"]) == ["Say hi", "Add\n\n2+2", "c"] and list(df["turns"]) == [1, 1, 2]
    df.loc[1, "response"] = "4"
    df.loc[0, "system"] = "You are kind."
    df.loc[2, "response"] = "D!"
    df.loc[2, "split"] = "eval"
    assert service.apply_table_edits(ws, "d", df) == 4
    rows = ws.rows("d")
    assert rows[0]["data"]["messages"][0] == {"role": "system", "content": "You are kind."}
    assert rows[1]["data"]["messages"][-1] == {"role": "assistant", "content": "4"}
    assert [m["content"] for m in rows[2]["data"]["messages"]] == ["a", "b", "c", "D!"]
    assert rows[2]["split"] == "eval"
    before = [r["data"] for r in ws.rows("d")]
    bad = service.rows_frame(ws, "d")
    bad.loc[0, "prompt"] = "  "
    with pytest.raises(FormatError, match="empty user message"):
        service.apply_table_edits(ws, "d", bad)
    assert [r["data"] for r in ws.rows("d")] == before


def test_conversation_box():
    row = service.parse_conversation(json.dumps([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]))
    assert len(row["messages"]) == 2
    with pytest.raises(FormatError, match="line 1"):
        service.parse_conversation("[{")
    with pytest.raises(FormatError, match="roles out of order"):
        service.parse_conversation(json.dumps([{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]))


def test_tab_through_the_app(app_server, tmp_path):
    from gradio_client import Client, handle_file

    ws = app_server["ctx"].ws
    c = Client(app_server["url"], verbose=False)
    # a row typed into the form lands in a new dataset and in the table
    out = c.predict(None, "", "Translate to Spanish: thank you", "", "Gracias", api_name="/datasets_add_row")
    assert "my-dataset" in out[2]
    assert [r["data"]["messages"][-1]["content"] for r in ws.rows("my-dataset")] == ["Gracias"]
    table = out[1]
    assert table["data"][0][4] == "Gracias"

    # a malformed upload is refused with one line and changes nothing
    before = [(d["name"], d["rows"]) for d in ws.list_datasets()]
    res = c.predict(handle_file(str(FIX / "malformed" / "truncated.json")), "auto", api_name="/datasets_upload")
    assert "truncated" in res[0]  # (gr.State outputs are not returned to clients)
    assert [(d["name"], d["rows"]) for d in ws.list_datasets()] == before

    # a good upload is staged (preview) and only lands on commit
    res = c.predict(handle_file(str(FIX / "formats" / "sharegpt.jsonl")), "auto", api_name="/datasets_upload")
    assert "sharegpt" in res[0] and "3 rows" in res[0]
    assert [(d["name"], d["rows"]) for d in ws.list_datasets()] == before

    # a file with a few bad rows: the good ones are staged, the bad ones reported with their lines and offered as
    # a download; Strict refuses the whole file; nothing lands before the commit either way
    mixed = tmp_path / "mixed.jsonl"
    good = [{"instruction": f"Say {i}", "output": f"{i}"} for i in range(5)]
    mixed.write_text("\n".join([json.dumps(good[0]), "{not json", json.dumps(good[1]), json.dumps([1, 2]),
                                 *map(json.dumps, good[2:])]) + "\n")
    res = c.predict(handle_file(str(mixed)), "auto", False, api_name="/datasets_upload")
    assert "5 rows" in res[0] and "2" in res[0] and "line 2" in res[0], res[0]
    got = res[2]["value"] if isinstance(res[2], dict) and "value" in res[2] else res[2]  # (message, preview, file)
    got = got["path"] if isinstance(got, dict) else got
    rejects = [json.loads(x) for x in Path(got).read_text().splitlines()]  # the skipped-rows download
    assert [r["line"] for r in rejects] == [2, 4]
    res = c.predict(handle_file(str(mixed)), "auto", True, api_name="/datasets_upload")
    assert "line 2" in res[0] and "5 rows" not in res[0]
    assert [(d["name"], d["rows"]) for d in ws.list_datasets()] == before

    # starters stage, then commit into their own dataset
    c.predict("classify", api_name="/datasets_starter")
    c.predict("starter-classify", "my-dataset", api_name="/datasets_commit_import")
    assert len(ws.rows("starter-classify")) == 24

    # token preview of the typed row
    rid = ws.rows("my-dataset")[0]["id"]
    html = c.predict(rid, "tiny", 256, True, api_name="/datasets_preview")
    import re

    assert 'class="tok tok-train"' in html and 'class="tok tok-mask"' in html
    assert "Gracias" in re.sub(r"<[^>]+>", "", html)  # the answer, split over several token spans

    # export
    f, msg = c.predict("starter-classify", "jsonl", "prompt_completion", "all", api_name="/datasets_export")
    lines = Path(f).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 24 and set(json.loads(lines[0])) == {"prompt", "completion"}


def test_dup_frame_and_split(ws):
    rows = [service.build_messages("", f"Question number {w}?", "", f"Answer {w}.") for w in ("one", "two", "three")]
    rows.append(service.build_messages("", "question number ONE?", "", "answer one"))
    ws.add_rows("d", rows, create=True)
    df, drop = clean.dup_frame(ws, "d", 0.8)
    ids = [r["id"] for r in ws.rows("d")]
    assert isinstance(df, pd.DataFrame) and len(df) == 1 and drop == [ids[3]]


def test_validation_report_names_rows_and_fields(ws):
    ws.add_rows("d", [service.build_messages("", "fine", "", "ok"), service.build_messages("", "draft", "", ""),
                      service.build_messages("", "word " * 200, "", "long")], create=True)
    ids = [r["id"] for r in ws.rows("d")]
    md = clean.validation_report(ws, "d", "tiny", 64)
    assert "3 rows checked" in md and "0 error(s) · 2 warning(s)" in md
    assert f"row id **{ids[1]}**, field `messages[1].content`: empty response" in md
    assert f"row id **{ids[2]}**" in md and "longer than max length 64" in md


def test_draft_responses_with_tiny_model(app_server):
    prompts = [[{"role": "user", "content": "Say hi"}], [{"role": "user", "content": "Name a colour"}]]
    texts = draft.draft_responses(app_server["ctx"], "tiny", "", prompts, 0.7, 8)
    assert len(texts) == 2 and all(isinstance(x, str) for x in texts)
    assert any(x.strip() for x in texts)  # a random tiny model still emits tokens


def test_delete_dataset_needs_the_confirmation_token(app_server):
    from gradio_client import Client

    ws = app_server["ctx"].ws
    c = Client(app_server["url"], verbose=False)
    for name in ("victim", "bystander"):  # made through the tab, so this session's picker lists them
        c.predict(name, api_name="/datasets_create")
        ws.add_rows(name, [service.build_messages("", f"keep {name}", "", "ok")])
    # a raw delete, without the first click that issues a token, is refused and deletes nothing
    out = c.predict("victim", api_name="/datasets_delete")
    assert "needs confirming first" in str(out)
    assert ws.has_dataset("victim") and len(ws.rows("victim")) == 1
    # a token issued for one dataset does not delete another, and is spent by the attempt
    ask = c.predict("victim", api_name="/datasets_delete_ask")
    assert "Delete **victim** and its 1 rows?" in str(ask)
    out = c.predict("bystander", api_name="/datasets_delete")
    assert "another delete dataset" in str(out)
    out = c.predict("victim", api_name="/datasets_delete")
    assert "needs confirming first" in str(out)
    assert ws.has_dataset("victim") and ws.has_dataset("bystander")
    # another session cannot spend this session's token
    c.predict("victim", api_name="/datasets_delete_ask")
    other = Client(app_server["url"], verbose=False)
    other.predict("other-session", api_name="/datasets_create")  # its picker lists 'victim' too
    out = other.predict("victim", api_name="/datasets_delete")
    assert "needs confirming first" in str(out) and ws.has_dataset("victim")


def test_confirm_with_the_token_deletes(app_server):
    from gradio_client import Client

    ws = app_server["ctx"].ws
    c = Client(app_server["url"], verbose=False)
    c.predict("doomed", api_name="/datasets_create")
    ws.add_rows("doomed", [service.build_messages("", "bye", "", "bye")])
    ask = c.predict("doomed", api_name="/datasets_delete_ask")
    assert "Delete **doomed** and its 1 rows?" in str(ask)
    out = c.predict("doomed", api_name="/datasets_delete")
    assert "Deleted **doomed**" in str(out)
    assert not ws.has_dataset("doomed")
    assert "doomed" not in str(out[0])  # the picker no longer lists it
    # the token was spent: a dataset made again under that name is not deleted by a replayed confirm
    c.predict("doomed", api_name="/datasets_create")
    out = c.predict("doomed", api_name="/datasets_delete")
    assert "needs confirming first" in str(out) and ws.has_dataset("doomed")


def test_handlers_carry_their_roles(home):
    """Listing and previews are for viewers, demonstrations for annotators, everything that imports, deletes,
    exports, pushes or drafts in bulk for admins (checked on the built app, where guard.install wrapped them)."""
    from playground.core.auth import Role
    from playground.ui.app import build_app, make_context

    ctx = make_context(default_model="tiny")
    try:
        demo = build_app(ctx)
        by_name = {demo.fns[i].api_name: role for i, role in ctx.roles.items() if demo.fns[i].api_name}
    finally:
        ctx.jobs.close()
    want = {Role.VIEWER: ["datasets_validate", "datasets_dups", "datasets_preview"],
            Role.ANNOTATOR: ["datasets_add_row", "datasets_add_conversation", "datasets_save_table"],
            Role.ADMIN: ["datasets_delete_ask", "datasets_delete", "datasets_upload", "datasets_starter",
                         "datasets_commit_import", "datasets_export", "datasets_split", "datasets_draft_all"]}
    for role, names in want.items():
        assert {n: by_name.get(n) for n in names} == dict.fromkeys(names, role)


def test_delete_button_is_off_without_a_dataset(home):
    from playground.ui.app import build_app, make_context

    def delete_button(ctx):  # noqa: ANN001, ANN202
        demo = build_app(ctx)
        return next(c for c in demo.config["components"]
                    if c.get("props", {}).get("value") == "🗑 Delete dataset")["props"]

    ctx = make_context(default_model="tiny")
    try:
        assert delete_button(ctx).get("interactive") is False  # an empty workspace: nothing to delete
        ctx.ws.create_dataset("one")
        assert delete_button(ctx).get("interactive") is not False
    finally:
        ctx.jobs.close()


# one line per header cell: a wrapped header ("turn/s", "s/y/s/t/e/m") has more than one line box
def test_draft_adapter_is_a_runs_adapter_on_that_runs_base(home):
    from playground.core.errors import ModelError
    from playground.core.paths import runs_dir

    assert draft.resolve_adapter("bundled", "") == ("bundled", "")
    with pytest.raises(ModelError, match="No adapter 'sft-missing'"):
        draft.resolve_adapter("bundled", "sft-missing")
    run = runs_dir() / "sft-1"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}", encoding="utf-8")
    (run / "config.yaml").write_text("model: tiny\n", encoding="utf-8")
    # the picked model is for the tokenizer; the adapter is loaded on the base it was trained from
    assert draft.resolve_adapter("bundled", "sft-1") == ("tiny", str(run / "adapter"))
