"""The Dataset tab's services and its handlers through the running app (gradio_client, no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from playground.stages.dataset.io import FormatError

FIX = Path(__file__).parent / "fixtures" / "datasets"


@pytest.fixture
def ws(home):
    from playground.core.workspace import Workspace

    return Workspace()


def test_table_edits_round_trip(ws):
    from playground.ui.tabs import dataset as t

    ws.add_rows("d", [t.build_messages("", "Say hi", "", "Hi!"),
                      t.build_messages("Be brief.", "Add", "2+2", ""),
                      {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                    {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}],
                create=True)
    df = t.rows_frame(ws, "d")
    assert list(df["prompt"]) == ["Say hi", "Add\n\n2+2", "c"] and list(df["turns"]) == [1, 1, 2]
    df.loc[1, "response"] = "4"
    df.loc[0, "system"] = "You are kind."
    df.loc[2, "response"] = "D!"
    df.loc[2, "split"] = "eval"
    assert t.apply_table_edits(ws, "d", df) == 4
    rows = ws.rows("d")
    assert rows[0]["data"]["messages"][0] == {"role": "system", "content": "You are kind."}
    assert rows[1]["data"]["messages"][-1] == {"role": "assistant", "content": "4"}
    assert [m["content"] for m in rows[2]["data"]["messages"]] == ["a", "b", "c", "D!"]
    assert rows[2]["split"] == "eval"
    before = [r["data"] for r in ws.rows("d")]
    bad = t.rows_frame(ws, "d")
    bad.loc[0, "prompt"] = "  "
    with pytest.raises(FormatError, match="empty user message"):
        t.apply_table_edits(ws, "d", bad)
    assert [r["data"] for r in ws.rows("d")] == before


def test_conversation_box():
    from playground.ui.tabs import dataset as t

    row = t.parse_conversation(json.dumps([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]))
    assert len(row["messages"]) == 2
    with pytest.raises(FormatError, match="line 1"):
        t.parse_conversation("[{")
    with pytest.raises(FormatError, match="roles out of order"):
        t.parse_conversation(json.dumps([{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]))


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
    from playground.ui.tabs import dataset as t

    rows = [t.build_messages("", f"Question number {w}?", "", f"Answer {w}.") for w in ("one", "two", "three")]
    rows.append(t.build_messages("", "question number ONE?", "", "answer one"))
    ws.add_rows("d", rows, create=True)
    df, drop = t.dup_frame(ws, "d", 0.8)
    ids = [r["id"] for r in ws.rows("d")]
    assert isinstance(df, pd.DataFrame) and len(df) == 1 and drop == [ids[3]]


def test_validation_report_names_rows_and_fields(ws):
    from playground.ui.tabs import dataset as t

    ws.add_rows("d", [t.build_messages("", "fine", "", "ok"), t.build_messages("", "draft", "", ""),
                      t.build_messages("", "word " * 200, "", "long")], create=True)
    ids = [r["id"] for r in ws.rows("d")]
    md = t.validation_report(ws, "d", "tiny", 64)
    assert "3 rows checked" in md and "0 error(s) · 2 warning(s)" in md
    assert f"row id **{ids[1]}**, field `messages[1].content`: empty response" in md
    assert f"row id **{ids[2]}**" in md and "longer than max length 64" in md


def test_draft_responses_with_tiny_model(app_server):
    from playground.ui.tabs import dataset as t

    prompts = [[{"role": "user", "content": "Say hi"}], [{"role": "user", "content": "Name a colour"}]]
    texts = t.draft_responses(app_server["ctx"], "tiny", "", prompts, 0.7, 8)
    assert len(texts) == 2 and all(isinstance(x, str) for x in texts)
    assert any(x.strip() for x in texts)  # a random tiny model still emits tokens
