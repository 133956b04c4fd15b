"""A corpus of bad (and some good) import files, for the fuzz test of `datasets import` and `prefs import`.

    python tests/fuzz_corpus.py OUT_DIR      # writes the files, prints how many of each family

generate(out_dir) writes >= 300 files, the same ones for the same seed: truncated / huge / deeply nested JSON,
non-object rows, lone surrogates ("\\ud800"), null / NaN / Infinity / list / dict / bool values, `chosen: []`,
odd CSV quoting, binary data, wrong extensions, empty files, HH transcripts with an empty last turn, and random
byte mutations of good files. Each family is a prefix of the file name ("trunc-", "deep-", ...). Huge files are
sized against `huge_mb` (the test sets PLAYGROUND_MAX_UPLOAD_MB to it), so the corpus stays a few MB.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def _msgs(q: str, a: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


def _hh(q: str, a: str) -> str:
    return f"\n\nHuman: {q}\n\nAssistant: {a}"


def good_rows(kind: str, n: int = 4) -> list[Row]:
    """n valid rows of one schema."""
    out = []
    for i in range(n):
        q, a, b = f"Question number {i}?", f"A helpful answer {i}.", f"An unhelpful reply {i}."
        out.append({
            "messages": {"messages": _msgs(q, a)},
            "alpaca": {"instruction": q, "input": "", "output": a},
            "sharegpt": {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]},
            "prompt_completion": {"prompt": q, "completion": a},
            "text": {"text": _hh(q, a)},
            "trl": {"prompt": q, "chosen": a, "rejected": b},
            "trl_conv": {"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": a}],
                         "rejected": [{"role": "assistant", "content": b}]},
            "implicit": {"chosen": _msgs(q, a), "rejected": _msgs(q, b)},
            "hh": {"chosen": _hh(q, a), "rejected": _hh(q, b)},
        }[kind])
    return out


KINDS = ("messages", "alpaca", "sharegpt", "prompt_completion", "text", "trl", "trl_conv", "implicit", "hh")
# one text field per schema that the fuzzer swaps for odd values: (kind, path into the row)
FIELDS: list[tuple[str, tuple[Any, ...]]] = [
    ("messages", ("messages", 0, "content")), ("messages", ("messages", 1, "role")), ("messages", ("messages",)),
    ("alpaca", ("instruction",)), ("alpaca", ("output",)), ("sharegpt", ("conversations", 1, "value")),
    ("sharegpt", ("conversations",)), ("prompt_completion", ("prompt",)), ("prompt_completion", ("completion",)),
    ("text", ("text",)), ("trl", ("prompt",)), ("trl", ("chosen",)), ("trl", ("rejected",)),
    ("trl_conv", ("chosen",)), ("trl_conv", ("prompt", 0, "content")), ("trl_conv", ("chosen", 0, "role")),
    ("implicit", ("chosen",)), ("implicit", ("rejected", 1, "content")), ("hh", ("chosen",)), ("hh", ("rejected",)),
]
# odd values as JSON text (NaN / Infinity are what Python's json writes and reads)
ODD_VALUES = {
    "null": "null", "nan": "NaN", "inf": "Infinity", "neginf": "-Infinity", "emptylist": "[]", "emptyobj": "{}",
    "listlist": "[[]]", "true": "true", "zero": "0", "bigfloat": "1e400", "empty": '""', "space": '"   "',
    "strlist": '["a", "b"]', "msgobj": '{"role": "assistant", "content": "x"}', "nested": '[{"role": [1]}]',
    "surrogate": '"\\ud800"', "lowsur": '"tail \\udfff"', "revpair": '"\\ude00\\ud83d"', "bigint": "9" * 5000,
}


def _set(row: Row, path: tuple[Any, ...], value: Any) -> Row:
    row = json.loads(json.dumps(row))
    target = row
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return row


def _jsonl(rows: list[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _parquet(rows: list[Row]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def _csv(header: list[str], lines: list[list[str]], sep: str = ",") -> str:
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in f'{sep}"\n\r') else v

    return "\n".join(sep.join(cell(v) for v in row) for row in [header, *lines]) + "\n"


def generate(out_dir: str | Path, seed: int = 0, huge_mb: float = 3.0) -> list[Path]:
    """Write the corpus into out_dir; returns the files in a stable order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    files: list[Path] = []

    def put(name: str, data: str | bytes) -> None:
        p = out / name
        p.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        files.append(p)

    # -- good files in every schema and container (the baseline the bad ones are made from) ---------------
    good_texts: dict[str, str] = {}
    for kind in KINDS:
        rows = good_rows(kind)
        good_texts[f"{kind}.jsonl"] = _jsonl(rows)
        good_texts[f"{kind}.json"] = json.dumps(rows, indent=1)
        put(f"good-{kind}.jsonl", good_texts[f"{kind}.jsonl"])
        put(f"good-{kind}.json", good_texts[f"{kind}.json"])
        put(f"good-{kind}.parquet", _parquet(rows))
    for kind in ("alpaca", "prompt_completion", "trl", "hh"):
        rows = good_rows(kind)
        put(f"good-{kind}.csv", _csv(list(rows[0]), [[str(v) for v in r.values()] for r in rows]))
    put("good-trl.tsv", _csv(["prompt", "chosen", "rejected"], [["q?", "yes", "no"]], "\t"))
    put("good-wrapped.json", json.dumps({"data": good_rows("trl"), "version": 1}))
    put("good-emoji.jsonl", _jsonl([{"prompt": "smile \ud83d\ude00", "chosen": "\U0001f600 yes", "rejected": "no"}]))

    # -- truncated: good JSON / JSONL cut at random places (mid-string, mid-escape, mid-UTF-8 byte) ----------
    for i in range(40):
        name = rng.choice(sorted(good_texts))
        data = good_texts[name].replace("answer", "answer é ✓").encode("utf-8")
        cut = rng.randrange(1, len(data) - 1)
        put(f"trunc-{i:02d}-{name}", data[:cut])

    # -- huge: over the upload cap, one row over the row limit, long lines, huge numbers, many columns ---------
    cap = int(huge_mb * 2**20)
    row = json.dumps({"prompt": "q" * 1000, "chosen": "a", "rejected": "b"}) + "\n"
    put("huge-over-cap.jsonl", row * (cap // len(row) + 50))
    put("huge-over-cap.csv", "prompt,completion\n" + ("x" * 1000 + ",y\n") * (cap // 1000 + 50))
    big = "w" * 1_100_000
    put("huge-row.jsonl", _jsonl([*good_rows("trl", 2), {"prompt": big, "chosen": "a", "rejected": "b"}]))
    put("huge-row.json", json.dumps([*good_rows("alpaca", 2), {"instruction": big, "output": "a"}]))
    put("huge-cell.csv", "instruction,output\nq,a\n" + big + ",b\n")
    put("huge-int.jsonl", '{"prompt": "q", "chosen": ' + "7" * 6000 + ', "rejected": "b"}\n' + _jsonl(good_rows("trl", 2)))
    put("huge-int-doc.json", "[" + "1" * 6000 + "]")
    put("huge-columns.jsonl", _jsonl([{**{f"c{i}": i for i in range(5000)}, **good_rows("trl", 1)[0]}]))
    put("huge-many-rows.jsonl", _jsonl(good_rows("trl", 1) * 5_000))
    put("huge-whitespace.jsonl", " " * 500_000 + "\n" + _jsonl(good_rows("trl", 1)))
    put("huge-newlines.json", "\n" * 300_000 + json.dumps(good_rows("alpaca", 2)))
    put("huge-markers.jsonl", _jsonl([{"text": "### Instruction:\n" * 20_000}, {"text": "\nA: x" * 30_000}]))

    # -- deeply nested -------------------------------------------------------------------------------------
    for depth in (50, 900, 5000, 100_000):
        put(f"deep-doc-{depth}.json", "[" * depth + "]" * depth)
        put(f"deep-open-{depth}.json", "[" * depth)
        put(f"deep-line-{depth}.jsonl", _jsonl(good_rows("trl", 1)) + "[" * depth + "]" * depth + "\n"
            + _jsonl(good_rows("trl", 1)))
        nest = "[" * depth + '"x"' + "]" * depth
        put(f"deep-chosen-{depth}.jsonl", '{"prompt": "q", "chosen": ' + nest + ', "rejected": "b"}\n'
            + _jsonl(good_rows("trl", 1)))
        put(f"deep-content-{depth}.jsonl", '{"messages": [{"role": "user", "content": ' + nest
            + '}, {"role": "assistant", "content": "a"}]}\n' + _jsonl(good_rows("messages", 1)))
        obj = '{"a": ' * depth + "1" + "}" * depth
        put(f"deep-obj-{depth}.jsonl", '{"instruction": "q", "output": ' + obj + "}\n" + _jsonl(good_rows("alpaca", 1)))

    # -- non-object rows -------------------------------------------------------------------------------------
    scalars = [1, "text", None, True, [1, 2], 1.5, [], [{"prompt": "q"}], "{\"prompt\": 1}"]
    for i, v in enumerate(scalars):
        put(f"nonobj-list-{i}.json", json.dumps([v, *good_rows("trl", 2), v]))
        put(f"nonobj-line-{i}.jsonl", json.dumps(v) + "\n" + _jsonl(good_rows("alpaca", 2)))
    for i, doc in enumerate(["42", "null", '"just a string"', "true", "-1.5e3", "[1, 2, 3]", '[null, null]',
                             '{"data": [1, 2]}', '{"rows": "nope"}', "[[], []]"]):
        put(f"nonobj-doc-{i}.json", doc)
        put(f"nonobj-doc-{i}.jsonl", doc + "\n")

    # -- odd values in every schema: null / NaN / Infinity / lists / dicts / bools / surrogates ----------------
    for kind, path in FIELDS:
        base = good_rows(kind, 3)
        for tag, literal in ODD_VALUES.items():
            if rng.random() < 0.45:  # a seeded sample keeps the corpus a few hundred files
                continue
            marker = "\u2603SNOWMAN\u2603"
            bad = _set(base[1], path, marker)
            line = json.dumps(bad, ensure_ascii=False).replace(json.dumps(marker, ensure_ascii=False), literal)
            body = json.dumps(base[0]) + "\n" + line + "\n" + json.dumps(base[2]) + "\n"
            put(f"value-{tag}-{kind}-{'.'.join(map(str, path))}.jsonl", body)

    # -- chosen / rejected empty or odd lists ---------------------------------------------------------------
    for i, (ch, rj) in enumerate([([], []), ([], "b"), ("a", []), ([{}], [{}]), ([{"role": "assistant"}], "b"),
                                  ([{"content": "x"}], "b"), ([None], "b"), ([{"role": "robot", "content": "x"}], "b"),
                                  ([{"role": "user", "content": "q"}], [{"role": "user", "content": "q"}]),
                                  ([{"role": "assistant", "content": ""}], "b")]):
        rows = [{"prompt": "q", "chosen": ch, "rejected": rj}, *good_rows("trl", 1)]
        put(f"chosen-{i:02d}.jsonl", _jsonl(rows))
        put(f"chosen-{i:02d}-noprompt.jsonl", _jsonl([{"chosen": ch, "rejected": rj}, *good_rows("implicit", 1)]))
    put("chosen-same.jsonl", _jsonl([{"prompt": "q", "chosen": "same", "rejected": "same"}, *good_rows("trl", 1)]))
    put("chosen-differ.jsonl", _jsonl([{"chosen": _msgs("q1", "a"), "rejected": _msgs("q2", "b")}]))

    # -- odd CSV -------------------------------------------------------------------------------------------
    csvs = {
        "unbalanced": 'instruction,output\n"q,a\nq2,a2\n',
        "embedded-newline": 'instruction,output\n"line one\nline two","answer"\nq,a\n',
        "doubled-quotes": 'prompt,chosen,rejected\n"say ""hi""","""hi""",no\n',
        "quote-in-bare": 'instruction,output\nq "x" y,a\nq2,a2\n',
        "extra-cells": "instruction,output\nq,a,extra\nq2,a2\n",
        "fewer-cells": "instruction,output\nq\nq2,a2\n",
        "nul": "instruction,output\nq\x00,a\nq2,a2\n",
        "bom": "\ufeffinstruction,output\nq,a\n",
        "crlf": "instruction,output\r\nq,a\r\nq2,a2\r\n",
        "cr-only": "instruction,output\rq,a\rq2,a2\r",
        "semicolon": "instruction;output\nq;a\n",
        "tabs": "instruction\toutput\nq\ta\n",
        "header-only": "prompt,chosen,rejected\n",
        "dup-header": "prompt,prompt,chosen\nq,q,a\n",
        "blank-header": "prompt,,chosen\nq,x,a\n",
        "no-header": "\n\n\n",
        "json-cells": 'prompt,chosen,rejected\nq,"[{""role"": ""assistant"", ""content"": ""a""}]",no\n',
        "broken-json-cells": 'prompt,chosen,rejected\nq,"[{""role"": ",no\nq2,yes,no\n',
        "deep-json-cells": "prompt,chosen,rejected\nq," + "[" * 5000 + ",no\nq2,yes,no\n",
        "empty-cells": "prompt,chosen,rejected\nq,,no\n,yes,no\nq3,yes,no\n",
        "formula": "instruction,output\n=1+2,@SUM(A1)\nq,a\n",
        "surrogate-escape-text": "instruction,output\n\\ud800,a\nq,a\n",
        "only-quotes": '"""\n"""\n',
        "hh-cells": 'chosen,rejected\n"\n\nHuman: q\n\nAssistant: a","\n\nHuman: q\n\nAssistant: "\n',
        "mixed-sep": "prompt,chosen;rejected\nq,a;b\n",
        "unicode-header": "pr\u00f6mpt,ch\u00f6sen\nq,a\n",
    }
    for name, text in csvs.items():
        put(f"csv-{name}.csv", text)
    put("csv-json-cells.tsv", "prompt\tchosen\trejected\nq\t[]\tno\n")

    # -- binary and other encodings ---------------------------------------------------------------------------
    blobs = {
        "random": bytes(rng.randrange(256) for _ in range(4096)),
        "png": b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(500)),
        "gzip": gzip.compress(good_texts["trl.jsonl"].encode()),
        "elf": b"\x7fELF\x02\x01\x01" + b"\x00" * 200,
        "utf16-nobom": good_texts["trl.jsonl"].encode("utf-16-le"),
        "utf16-bom": b"\xff\xfe" + good_texts["trl.jsonl"].encode("utf-16-le"),
        "utf16-broken": b"\xff\xfe" + good_texts["trl.jsonl"].encode("utf-16-le")[:-1] + b"\xd8",
        "latin1": "prompt,chosen,rejected\ncaf\xe9,oui,non\n".encode("latin-1"),
        "late-nul": good_texts["trl.jsonl"].encode() * 200 + b"\x00\x01\x02",
        "surrogate-bytes": b'{"prompt": "\xed\xa0\x80", "chosen": "a", "rejected": "b"}\n',
        "overlong": b'{"prompt": "\xc0\xaf", "chosen": "a", "rejected": "b"}\n',
        "controls": bytes(range(1, 32)) * 50,
    }
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("data.jsonl", good_texts["trl.jsonl"])
    blobs["zip"] = zbuf.getvalue()
    for name, data in blobs.items():
        for ext in ("jsonl", "csv") if name in ("random", "png", "utf16-bom", "latin1") else ("jsonl",):
            put(f"bin-{name}.{ext}", data)
    put("bin-random.parquet", blobs["random"])
    put("bin-par1-header.parquet", b"PAR1" + bytes(rng.randrange(256) for _ in range(300)) + b"PAR1")

    # -- wrong extensions -------------------------------------------------------------------------------------
    put("ext-json-as.csv", good_texts["trl.json"])
    put("ext-jsonl-as.csv", good_texts["alpaca.jsonl"])
    put("ext-jsonl-as.json", good_texts["trl.jsonl"])
    put("ext-json-as.jsonl", good_texts["alpaca.json"])
    put("ext-csv-as.jsonl", _csv(["prompt", "chosen", "rejected"], [["q", "a", "b"]]))
    put("ext-csv-as.json", _csv(["instruction", "output"], [["q", "a"]]))
    put("ext-parquet-as.jsonl", _parquet(good_rows("trl")))
    put("ext-parquet-as.csv", _parquet(good_rows("alpaca")))
    put("ext-json-as.parquet", good_texts["trl.json"])
    put("ext-jsonl.txt", good_texts["trl.jsonl"])
    put("ext-none", good_texts["alpaca.jsonl"])
    put("ext-upper.JSONL", good_texts["trl.jsonl"])
    put("ext-double.jsonl.gz", gzip.compress(good_texts["trl.jsonl"].encode()))
    put("ext-yaml.yaml", "prompt: q\nchosen: a\nrejected: b\n")

    # -- empty ----------------------------------------------------------------------------------------------
    for i, text in enumerate(["", " ", "\n\n\n", "\ufeff", "[]", "{}", "null", "[{}]", '{"data": []}', "[{}, {}]",
                              "\t\r\n", '""']):
        for ext in ("jsonl", "json") if i < 6 else ("json",):
            put(f"empty-{i:02d}.{ext}", text)
    put("empty-nulls.parquet", _parquet([{"prompt": None, "chosen": None, "rejected": None}]))
    put("empty-0.csv", "")

    # -- HH files like the real one: some rows end with an empty "\n\nAssistant: " -------------------------------
    for i in range(4):
        rows = []
        for j in range(30):
            empty_c, empty_r = rng.random() < 0.15, rng.random() < 0.1
            rows.append({"chosen": _hh(f"Q{j}?", "" if empty_c else f"Good {j}."),
                         "rejected": _hh(f"Q{j}?", "" if empty_r else f"Bad {j}.")})
        put(f"hh-empty-turns-{i}.jsonl", _jsonl(rows))
    put("hh-no-final-assistant.jsonl", _jsonl([{"chosen": "\n\nHuman: q", "rejected": "\n\nHuman: q"},
                                               *good_rows("hh", 2)]))
    put("hh-prompt-column.jsonl", _jsonl([{"prompt": "\n\nHuman: q\n\nAssistant:", "chosen": " a", "rejected": " b"},
                                          {"prompt": "\n\nHuman: q\n\nAssistant:", "chosen": " ", "rejected": " b"}]))

    # -- random byte mutations of good files ----------------------------------------------------------------
    names = sorted(good_texts)
    for i in range(50):
        data = bytearray(good_texts[rng.choice(names)].encode("utf-8"))
        for _ in range(rng.randint(1, 6)):
            op, pos = rng.random(), rng.randrange(len(data))
            if op < 0.4:
                data[pos] = rng.choice(b'{}[]",:\\nu0 \xff\x00')
            elif op < 0.7:
                del data[pos:pos + rng.randint(1, 20)]
            else:
                data[pos:pos] = rng.choice([b"\\ud800", b"NaN", b"null", b'"\n"', b"[[[[", b"\xe2\x82", b"}"])
        put(f"mut-{i:02d}.{'jsonl' if i % 2 else 'json'}", bytes(data))
    return files


def families(files: list[Path]) -> Counter:
    return Counter(p.name.split("-")[0] for p in files)


if __name__ == "__main__":
    made = generate(sys.argv[1] if len(sys.argv) > 1 else "fuzz-corpus")
    print(f"{len(made)} files: " + ", ".join(f"{k}={v}" for k, v in sorted(families(made).items())))
