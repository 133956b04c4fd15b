"""Dataset import / export / checks: every format round-trips, every malformed file is refused cleanly."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from playground.stages.dataset import io as dio
from playground.stages.dataset.io import FormatError

FIX = Path(__file__).parent / "fixtures" / "datasets"
CACHE = os.environ.get("PLAYGROUND_CACHE") or str(Path(__file__).resolve().parent.parent / ".cache" / "playground")


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PLAYGROUND_CACHE", CACHE)
    from playground.core.workspace import Workspace

    return Workspace()


def snapshot(ws) -> list:
    return [(d["name"], [(r["id"], r["data"], r["split"]) for r in ws.rows(d["name"])]) for d in ws.list_datasets()]


# -- formats -------------------------------------------------------------------------------------------------
EXPECTED = {
    "alpaca.json": ("alpaca", 3),
    "sharegpt.jsonl": ("sharegpt", 3),
    "messages.jsonl": ("messages", 3),
    "messages.parquet": ("messages", 2),
    "prompt_completion.csv": ("prompt_completion", 3),
    "prompt_completion_conv.jsonl": ("prompt_completion", 2),
    "hh.jsonl": ("hh", 2),
    "text.jsonl": ("text", 3),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detects_and_converts(name):
    rows, fmt = dio.load_file(FIX / "formats" / name)
    assert (fmt, len(rows)) == EXPECTED[name]
    assert dio.validate(rows) == []
    for r in rows:
        roles = [m["role"] for m in r["messages"]]
        assert roles[-1] == "assistant" and "user" in roles
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in r["messages"])


def test_conversions_keep_content():
    alpaca, _ = dio.load_file(FIX / "formats" / "alpaca.json")
    assert alpaca[1]["messages"] == [{"role": "user", "content": "Translate to French\n\nGood night"},
                                     {"role": "assistant", "content": "Bonne nuit"}]
    assert alpaca[2]["messages"][0] == {"role": "system", "content": "Answer briefly."}
    share, _ = dio.load_file(FIX / "formats" / "sharegpt.jsonl")
    assert [m["role"] for m in share[1]["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    hh, _ = dio.load_file(FIX / "formats" / "hh.jsonl")
    assert hh[1]["messages"][-1] == {"role": "assistant", "content": "Octopuses have three hearts."}
    assert len(hh[1]["messages"]) == 4
    csv_rows, _ = dio.load_file(FIX / "formats" / "prompt_completion.csv")
    assert csv_rows[1]["messages"][1]["content"].count("\n") == 2  # a multi-line quoted CSV cell survives
    assert csv_rows[2]["messages"][0]["content"] == 'Quote: he said "hi"'
    text, _ = dio.load_file(FIX / "formats" / "text.jsonl")
    assert text[0]["messages"] == [{"role": "user", "content": "Give a synonym for happy."},
                                   {"role": "assistant", "content": "Cheerful."}]
    assert text[2]["messages"][1]["content"] == "Yes."


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("out_fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("style", ["messages", "prompt_completion"])
def test_round_trip_through_workspace_and_export(ws, tmp_path, name, out_fmt, style):
    res = dio.import_file(ws, FIX / "formats" / name, "set")
    assert res.created and res.rows == EXPECTED[name][1]
    stored = [r["data"] for r in ws.rows("set")]
    out = tmp_path / f"out.{out_fmt}"
    n = dio.export_rows(stored, out, out_fmt, style)
    assert n == len(stored)
    if out_fmt == "jsonl":  # TRL's standard columns and nothing else
        first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
        assert set(first) == ({"messages"} if style == "messages" else {"prompt", "completion"})
    back, fmt = dio.load_file(out)
    assert fmt == style
    assert back == stored
    # and back into the workspace as a second dataset, identical
    dio.import_file(ws, out, "again")
    assert [r["data"] for r in ws.rows("again")] == stored


def test_manual_mapping(ws):
    with pytest.raises(FormatError, match="map the columns by hand"):
        dio.load_file(FIX / "formats" / "qa_unmapped.csv")
    recs = dio.read_records(FIX / "formats" / "qa_unmapped.csv")
    guess = dio.guess_mapping(recs.columns)
    assert guess["instruction"] == "question" and guess["output"] == "answer"
    rows, fmt = dio.load_file(FIX / "formats" / "qa_unmapped.csv", mapping={"instruction": "question",
                                                                           "output": "answer"})
    assert fmt == "mapped"
    assert rows[0]["messages"] == [{"role": "user", "content": "What is ice?"},
                                   {"role": "assistant", "content": "Frozen water."}]
    with pytest.raises(FormatError, match="no column 'nope'"):
        dio.load_file(FIX / "formats" / "qa_unmapped.csv", mapping={"instruction": "nope", "output": "answer"})


# -- malformed files -------------------------------------------------------------------------------------
MALFORMED = {
    "empty.jsonl": "empty (0 bytes)",
    "junk.bin": "binary file",
    "junk.jsonl": "binary file",
    "truncated.json": "truncated",
    "truncated.jsonl": "line 2: JSON ends too early",
    "latin1.csv": "line 2: not UTF-8",
    "latin1.jsonl": "line 1: not UTF-8",
    "unknown_columns.csv": "cannot tell the format",
    "missing_column.jsonl": "line 2: missing column 'output'",
    "wrong_type.jsonl": "line 1, field 'messages[1].content': expected text, got list",
    "bad_role.jsonl": "field 'messages[1].role': unknown role 'robot'",
    "roles_out_of_order.jsonl": "line 2, field 'messages[0].role': roles out of order",
    "empty_instruction.json": "item 1, field 'messages[0].content': empty user message",
    "not_objects.json": "item 1: expected a JSON object",
    "extra_cells.csv": "row 2 (line 3): 3 cells but the header names 2 columns",
    "header_only.csv": "no rows",
    "whitespace.jsonl": "only whitespace",
    "broken.parquet": "not a readable Parquet file",
    "plain_text.jsonl": "line 1, field 'text': plain text",
    "messages_not_list.jsonl": "field 'messages': expected a non-empty list",
}


def test_corpus_is_complete():
    assert sorted(p.name for p in (FIX / "malformed").iterdir()) == sorted(MALFORMED)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_is_refused_strictly_and_workspace_unchanged(ws, name):
    dio.import_file(ws, FIX / "formats" / "messages.jsonl", "existing")
    before = snapshot(ws)
    for target, append in (("new-set", True), ("existing", True)):
        with pytest.raises(FormatError) as err:
            dio.import_file(ws, FIX / "malformed" / name, target, append=append, strict=True)
        msg = str(err.value)
        assert "\n" not in msg and msg.startswith(name)
        assert MALFORMED[name] in msg
        assert snapshot(ws) == before


# files that still hold good rows: without strict those rows go in and the bad ones are listed
PARTLY_GOOD = {"truncated.jsonl": (1, [2]), "missing_column.jsonl": (1, [2]), "roles_out_of_order.jsonl": (1, [2]),
               "extra_cells.csv": (1, [3])}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_without_strict_keeps_good_rows_or_changes_nothing(ws, name):
    before = snapshot(ws)
    if name not in PARTLY_GOOD:
        with pytest.raises(FormatError) as err:
            dio.import_file(ws, FIX / "malformed" / name, "x")
        assert "\n" not in str(err.value) and str(err.value).startswith(name)
        assert snapshot(ws) == before
        return
    good, bad_lines = PARTLY_GOOD[name]
    res = dio.import_file(ws, FIX / "malformed" / name, "x")
    assert res.rows == good == len(ws.rows("x"))
    assert [r.line for r in res.skipped] == bad_lines
    assert MALFORMED[name].split(": ", 1)[-1].split(", field")[-1] in res.note
    listed = [json.loads(line) for line in Path(res.rejects_path).read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in listed] == bad_lines and all(r["reason"] for r in listed)


def test_huge_rows_are_refused(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(dio, "MAX_ROW_CHARS", 10_000)  # the real limit is 1 MB; same code path, smaller file
    big = "x" * 12_000
    jl = tmp_path / "huge.jsonl"
    small, huge = json.dumps({"prompt": "a", "completion": "b"}), json.dumps({"prompt": big, "completion": "b"})
    jl.write_text(f"{small}\n{huge}\n", encoding="utf-8")
    cs = tmp_path / "huge.csv"
    cs.write_text(f"prompt,completion\na,b\nc,{big}\n", encoding="utf-8")
    js = tmp_path / "huge.json"
    js.write_text(json.dumps([{"prompt": "a", "completion": big}]), encoding="utf-8")
    for path, where in ((jl, "line 2"), (cs, "line 3"), (js, "item 1")):
        with pytest.raises(FormatError, match=f"{path.name} {where}.*over the"):
            dio.import_file(ws, path, "x", strict=True)
    assert ws.list_datasets() == []
    res = dio.import_file(ws, jl, "jl")  # without strict: the small row goes in, the huge one is reported
    assert res.rows == 1 and [r.line for r in res.skipped] == [2] and "over the" in res.note
    with pytest.raises(FormatError, match="huge.json item 1: row is .* no usable rows"):
        dio.import_file(ws, js, "js")
    assert [d["name"] for d in ws.list_datasets()] == ["jl"]


def test_partial_import_reports_lines_and_reasons_and_strict_imports_nothing(ws, tmp_path):
    good = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    lines = [
        json.dumps(good),
        '{"messages": [{"role": "user", "content": "cut',  # line 2: truncated JSON
        json.dumps([good]),  # line 3: not an object
        '{"messages": [{"role": "user", "content": "\\ud800"}, {"role": "assistant", "content": "x"}]}',
        json.dumps({"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "x"}]}),
        json.dumps({"messages": [{"role": "user", "content": {"a": 1}}, {"role": "assistant", "content": "x"}]}),
        "[" * 50_000,  # line 7: nested deeper than Python's parser goes
        json.dumps(good),
    ]
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = snapshot(ws)
    with pytest.raises(FormatError) as err:
        dio.import_file(ws, f, "strict", strict=True)
    msg = str(err.value)
    assert msg.startswith("mixed.jsonl line 2: JSON ends too early") and "and 5 more bad row(s)" in msg
    assert "\n" not in msg and snapshot(ws) == before

    staged = dio.stage_file(f)  # the preview: nothing in the workspace yet
    assert len(staged.rows) == 2 and snapshot(ws) == before
    assert [r.line for r in staged.rejected] == [2, 3, 4, 5, 6, 7]
    reasons = [r.reason for r in staged.rejected]
    assert "expected a JSON object" in reasons[1] and "lone surrogate" in reasons[2]
    assert "missing (null)" in reasons[3] and "expected text, got object" in reasons[4] and "nested" in reasons[5]
    assert staged.note.startswith("skipped 6 of 8 rows: line 2: JSON ends too early")
    res = dio.commit_staged(ws, "mixed", staged)
    assert res.rows == 2 and [r["data"] for r in ws.rows("mixed")] == [good, good]
    listed = [json.loads(x) for x in Path(res.rejects_path).read_text(encoding="utf-8").splitlines()]
    assert Path(res.rejects_path).parent == Path(os.environ["PLAYGROUND_HOME"]) / "rejects"
    assert [x["line"] for x in listed] == [2, 3, 4, 5, 6, 7]
    assert listed[2]["row"]["messages"][0]["content"] == "\ud800"  # the row as it came, to fix and re-import


def test_upload_size_cap_is_checked_before_reading(ws, tmp_path, monkeypatch):
    f = tmp_path / "big.jsonl"
    row = json.dumps({"prompt": "q" * 900, "completion": "a"}) + "\n"
    f.write_text(row * 3000, encoding="utf-8")  # ~2.7 MB
    monkeypatch.setenv("PLAYGROUND_MAX_UPLOAD_MB", "2")
    with pytest.raises(FormatError, match=r"^big.jsonl: 2.\d MB is over the 2 MB import limit"):
        dio.import_file(ws, f, "big")
    monkeypatch.setenv("PLAYGROUND_MAX_UPLOAD_MB", "lots")
    with pytest.raises(FormatError, match="PLAYGROUND_MAX_UPLOAD_MB='lots' is not a size"):
        dio.import_file(ws, f, "big")
    monkeypatch.setenv("PLAYGROUND_MAX_UPLOAD_MB", "3")
    assert dio.import_file(ws, f, "big").rows == 3000
    monkeypatch.delenv("PLAYGROUND_MAX_UPLOAD_MB")  # the web upload cap's own variable is honoured too
    monkeypatch.setenv("PLAYGROUND_MAX_UPLOAD", "1mb")
    with pytest.raises(FormatError, match="over the 1 MB import limit"):
        dio.import_file(ws, f, "big2")


def test_existing_name_refused_without_append(ws):
    from playground.core.workspace import WorkspaceError

    dio.import_file(ws, FIX / "formats" / "alpaca.json", "a")
    before = snapshot(ws)
    with pytest.raises(WorkspaceError, match="already exists"):
        dio.import_file(ws, FIX / "formats" / "alpaca.json", "a", append=False)
    assert snapshot(ws) == before
    dio.import_file(ws, FIX / "formats" / "alpaca.json", "a", append=True)
    assert len(ws.rows("a")) == 6


# -- validation ---------------------------------------------------------------------------------------------
def test_validate_reports_fields_and_lengths():
    from playground.core import models

    tok = models.load_tokenizer(models.resolve("tiny"))
    rows = [
        {"messages": [{"role": "user", "content": "short"}, {"role": "assistant", "content": "ok"}]},
        {"messages": [{"role": "user", "content": "draft without answer"}, {"role": "assistant", "content": ""}]},
        {"messages": [{"role": "user", "content": "word " * 300}, {"role": "assistant", "content": "long"}]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
        {"messages": [{"role": "user", "content": 3}]},
    ]
    issues = dio.validate(rows, tokenizer=tok, max_length=128)
    got = {(i.row, i.field, i.level) for i in issues}
    assert (1, "messages[1].content", "warning") in got  # empty response: a draft, not an error
    assert (2, "messages", "warning") in got
    assert (3, "messages[1].role", "error") in got
    assert (4, "messages[0].content", "error") in got
    assert not any(i.row == 0 for i in issues)
    long = next(i for i in issues if i.row == 2)
    assert "longer than max length 128" in long.message and int(long.message.split()[0]) > 300


# -- cleaning ----------------------------------------------------------------------------------------------
def _row(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def test_dedupe_finds_planted_duplicates():
    base = [r for name in dio.starters() for r in dio.load_starter(name)]
    assert 50 <= len(base) <= 200
    rows = list(base)
    plants = {  # index in base -> a near / exact copy
        3: lambda t: t.upper(),  # exact after normalising case
        10: lambda t: t.replace(".", " !").replace(",", ""),  # exact after normalising punctuation
        40: lambda t: t.replace("the ", "a ", 1) + " Thanks",  # near
        77: lambda t: "Please: " + t,  # near
    }
    expect = {}
    for i, edit in plants.items():
        m = [dict(x) for x in base[i]["messages"]]
        m[-2]["content"] = edit(m[-2]["content"])
        rows.append({"messages": m})
        expect[i] = len(rows) - 1
    groups = dio.find_duplicates(rows)
    found = {tuple(g.rows) for g in groups}
    assert found == {(i, j) for i, j in expect.items()}
    kinds = {g.rows[0]: g.kind for g in groups}
    assert kinds[3] == kinds[10] == "exact" and kinds[40] == kinds[77] == "near"
    assert all(g.drop == [expect[g.rows[0]]] for g in groups)


def test_dedupe_scales_with_lsh():
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(3000)]
    rows = [_row(" ".join(rng.choices(vocab, k=25)), " ".join(rng.choices(vocab, k=10))) for _ in range(600)]
    planted = []
    for i in (5, 250, 590):
        q = rows[i]["messages"][0]["content"].split()
        q[3] = "changed"
        rows.append(_row(" ".join(q), rows[i]["messages"][1]["content"]))
        planted.append((i, len(rows) - 1))
    groups = dio.find_duplicates(rows)
    assert {tuple(g.rows) for g in groups} == set(planted)


def test_splits_are_seeded():
    a = dio.assign_splits(50, 0.2, seed=7)
    assert a == dio.assign_splits(50, 0.2, seed=7)
    assert a != dio.assign_splits(50, 0.2, seed=8)
    assert a.count("eval") == 10
    assert dio.assign_splits(3, 0.01, 0).count("eval") == 1
    with pytest.raises(FormatError):
        dio.assign_splits(10, 1.5, 0)


def test_length_filter():
    rows = [_row("a", "b"), _row("x" * 100, "y"), _row("hello", "world")]
    keep, drop = dio.length_filter(rows, min_len=5, max_len=50)
    assert keep == [2] and drop == [0, 1]


def test_starters_are_clean():
    names = dio.starters()
    assert set(names) >= {"summarise", "translate", "answer", "classify", "rewrite"}
    all_rows = []
    for n in names:
        rows = dio.load_starter(n)
        assert dio.validate(rows) == []
        all_rows += rows
    assert 50 <= len(all_rows) <= 200
    assert dio.find_duplicates(all_rows) == []


# -- export / hub ----------------------------------------------------------------------------------------
def test_export_skips_drafts_for_prompt_completion(tmp_path):
    rows = [_row("q", "a"), _row("draft", "")]
    assert dio.export_rows(rows, tmp_path / "m.jsonl", style="messages") == 2
    assert dio.export_rows(rows, tmp_path / "pc.jsonl", style="prompt_completion") == 1
    with pytest.raises(FormatError, match="does not exist"):
        dio.export_rows(rows, tmp_path / "nope" / "x.jsonl")
    with pytest.raises(FormatError, match="unknown export format"):
        dio.export_rows(rows, tmp_path / "x.csv", "csv")


def test_hub_unreachable_is_one_clear_line_and_token_stays_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    token = "hf_secretSECRETsecret123"
    with pytest.raises(FormatError, match="not reachable") as err:
        dio.push_to_hub([_row("q", "a")], "me/my-set", token)
    assert token not in str(err.value)
    with pytest.raises(FormatError, match="not reachable"):
        dio.load_hub("tatsu-lab/alpaca", "train")
    with pytest.raises(FormatError, match="token"):
        dio.push_to_hub([_row("q", "a")], "me/my-set", "")
    # nothing anywhere on disk holds the token
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert token not in p.read_text(errors="ignore")
