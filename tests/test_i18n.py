"""The UI's catalogues (playground/ui/locales/*.json): both languages have every key, every key is used, every key the
code asks for exists, placeholders match, and the stage fields' tooltips follow the dataclasses' help."""

from __future__ import annotations

import ast
import dataclasses
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from playground.core.auth import Role
from playground.stages.registry import STAGES
from playground.ui import i18n
from playground.ui.app import TABS
from playground.ui.tabs import ppo, reward, reward_dpo, reward_kto, rl_method, sft

UI = Path(i18n.__file__).parent
KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def _trees() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(UI.rglob("*.py"))]


def _literal_keys() -> set[str]:
    """Every string constant in playground/ui that looks like a catalogue key."""
    return {n.value for _, tree in _trees() for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and KEY.match(n.value)}


def _group_keys() -> set[str]:
    """The form groups' titles the tabs declare (forms.grouped_form shows each through i18n.group_title)."""
    titles = {title for mod in (sft, reward, reward_dpo, reward_kto, ppo, rl_method) for title, _ in mod.GROUPS}
    titles |= {title for stage in ("grpo", "rloo") for title, _ in rl_method.form_groups(STAGES[stage])}  # + "Other"
    return {"group." + re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") for title in titles}


def _dynamic_keys() -> set[str]:
    """Keys the code builds from a name: the stage fields (widgets/forms.py), the form groups, the tabs (app.py:
    tab.<id>, tab.<id>.blurb), the header's role line (app.py who_md: header.can_<role>)."""
    keys = set(i18n.field_entries()) | _group_keys()
    keys |= {f"tab.{tab_id.value}{end}" for tab_id, *_ in TABS for end in ("", ".blurb")}
    keys |= {f"header.can_{r.name.lower()}" for r in (Role.ADMIN, Role.ANNOTATOR, Role.VIEWER)} | {"header.can_nothing"}
    return keys


def test_both_languages_have_every_key_and_no_empty_text():
    cat = i18n.catalogues()
    assert set(cat["en"]) == set(cat["zh"]), set(cat["en"]) ^ set(cat["zh"])
    assert not [k for lang in cat for k, v in cat[lang].items() if not v.strip()]


def test_placeholders_match_between_languages():
    cat = i18n.catalogues()
    fields = re.compile(r"\{(\w*)\}")
    plural = {"s", "s2"}  # an English plural ending ('pair{s}', i18n.SHAPES): Chinese has none
    wrong = [k for k in cat["en"] if set(fields.findall(cat["en"][k])) - plural != set(fields.findall(cat["zh"][k]))]
    assert not wrong


def _source_strings() -> list[str]:
    """The fixed text of every string literal in playground/ (an f-string's constant parts, each on its own)."""
    out: list[str] = []
    for p in sorted(UI.parent.rglob("*.py")):
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                out.append(n.value)
    return out


def _message_keys_in_source() -> set[str]:
    """The message entries (i18n.MESSAGE_PREFIXES: services' errors, trainers' phases, plot titles) whose fixed text
    is still in the source: every piece between two placeholders is in one string literal. A service message that was
    reworded leaves its entry here unused (its translation would never match again)."""
    strings = _source_strings()
    found = set()
    for key, en in i18n.catalogues()["en"].items():
        if not key.startswith(i18n.MESSAGE_PREFIXES):
            continue
        # a piece's edges may be the joints of a composed message (need() writes "{where}: " before the rule)
        pieces = [p.strip(" :;,.()'") for p in re.split(r"\{\w+\}", en) if p.strip(" :;,.()'")]
        if all(any(p in s for s in strings) for p in pieces):
            found.add(key)
    return found


def _built_key_prefixes() -> set[str]:
    """The fixed starts of keys the code builds in an f-string (`t(f"arena.rate_{side}")`): every key with such a
    start counts as used."""
    prefix = re.compile(r"^[a-z0-9_]+\.[a-z0-9_.]*$")
    return {n.values[0].value for _, tree in _trees() for n in ast.walk(tree)
            if isinstance(n, ast.JoinedStr) and len(n.values) > 1 and isinstance(n.values[0], ast.Constant)
            and isinstance(n.values[0].value, str) and prefix.match(n.values[0].value)}


def test_every_key_is_used():
    built = _built_key_prefixes()
    unused = {k for k in set(i18n.catalogues()["en"]) - _literal_keys() - _dynamic_keys() - _message_keys_in_source()
              if not k.startswith(tuple(built))}
    assert not unused, f"keys no code uses: {sorted(unused)}"


def test_every_message_entry_round_trips_to_its_own_translation():
    """Each message entry, its placeholders filled, maps to its own Chinese text: no other entry shadows it, and a
    number-only placeholder still takes a number."""
    cat = i18n.catalogues()
    for key, en in cat["en"].items():
        if not key.startswith(i18n.MESSAGE_PREFIXES):
            continue
        names = re.findall(r"\{(\w+)\}", en)
        shaped = {"at": "line 7", "stage": "sft", "s": "s", "s2": ""}
        sample = {n: shaped.get(n, "7" if n in i18n.SHAPES else f"«{i}»") for i, n in enumerate(names)}
        want = i18n.text(key, "zh", **{n: "第 7 行" if n == "at" else v for n, v in sample.items()})
        assert i18n.localise(en.format(**sample), "zh") == want, key


def test_service_errors_reach_a_chinese_user_in_chinese_and_stay_english_otherwise():
    from playground.core.config import from_dict
    from playground.core.errors import ConfigError

    cases = [("sft", {"learning_rate": "abc"}, "'abc'"), ("sft", {"max_steps": 0}, "max_steps"),
             ("ppo", {"use_lora": False}, "use_lora"), ("sft", {"lerning_rate": 1}, "'learning_rate'"),
             ("grpo", {"num_generations": 1}, "num_generations")]
    for stage, data, kept in cases:
        try:
            from_dict(STAGES[stage], data, where="form")
        except ConfigError as e:
            zh = i18n.localise(e, "zh")
            assert zh.startswith("表单：") and kept in zh and not re.search(r"\b(must|needs|unknown)\b", zh), zh
            assert i18n.localise(e, "en") == str(e)
        else:
            raise AssertionError(f"{stage} {data} was accepted")
    assert "学习率 (learning_rate)" in i18n.localise("form: field 'learning_rate' must be a number, got 'x'", "zh")
    # an import's bad rows: the row, the field and the reason each translated; an unknown message stays as it is
    bad = ("x.jsonl line 3, field 'chosen': empty answer (the last assistant turn has no text); no usable preference "
           "rows (2 bad; all reasons: r.jsonl)")
    assert i18n.localise(bad, "zh") == ("x.jsonl 第 3 行，字段 'chosen'：回答为空（最后一个助手轮次没有文字）；没有可用的"
                                        "偏好行（2 行有问题；全部原因见：r.jsonl）")
    assert i18n.localise("something no entry knows: 42", "zh") == "something no entry knows: 42"
    # the role check's refusal (ui/guard.py words it; the name and the role stay recognisable)
    assert (i18n.localise("'start' needs the admin role; you are signed in as bob (viewer).", "zh")
            == "'start' 需要 管理员 角色；你当前以 bob（查看者）身份登录。")
    # the language comes from the request when none is given
    zh_req = SimpleNamespace(cookies={}, headers={"accept-language": "zh-CN"})
    from gradio.context import LocalContext

    token = LocalContext.request.set(zh_req)
    try:
        assert i18n.localise("loading model") == "加载模型"
    finally:
        LocalContext.request.reset(token)
    assert i18n.localise("loading model") == "loading model"


def test_every_key_the_code_asks_for_exists():
    en = i18n.catalogues()["en"]
    missing = []
    for path, tree in _trees():
        for n in ast.walk(tree):
            if (isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", "")) in {"t", "say"}
                    and n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value not in en):
                missing.append(f"{path.name}:{n.lineno} {n.args[0].value}")
    assert not missing
    assert _dynamic_keys() <= set(en), sorted(_dynamic_keys() - set(en))


def test_every_stage_field_has_a_label_and_its_own_help_in_both_languages():
    cat = i18n.catalogues()
    for stage, cls in STAGES.items():
        for f in dataclasses.fields(cls):
            key = i18n.field_help_key(stage, f.name)
            for lang in cat:
                assert f"field.{f.name}" in cat[lang] and key in cat[lang], (lang, stage, f.name)
            # the English tooltip is the dataclass's help (python -m playground.ui.i18n prints the entries)
            assert cat["en"][key] == f.metadata.get("help", ""), (stage, f.name)


def test_tab_titles_are_the_apps():
    en = i18n.catalogues()["en"]
    for tab_id, title, blurb, _ in TABS:
        assert en[f"tab.{tab_id.value}"] == title and en[f"tab.{tab_id.value}.blurb"] == f"*{blurb}*"


def test_say_follows_the_switch_then_the_browser():
    zh = SimpleNamespace(cookies={}, headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    chosen_en = SimpleNamespace(cookies={"pg-lang": "en"}, headers={"accept-language": "zh-CN"})
    assert i18n.say("header.not_signed_in", zh) == "未登录"
    assert i18n.say("header.not_signed_in", chosen_en) == "not signed in"
    assert i18n.say("header.not_signed_in") == "not signed in"  # outside a request: English
    assert "ada" in i18n.say("header.who", zh, name="ada", role="admin", can="x")


def test_import_checks_a_user_commonly_hits_reach_a_chinese_user_in_chinese(home, tmp_path):
    """Real refusals of the dataset and preference imports (an empty file, an unknown layout, a file with no usable
    pair): every fixed word translated, the file name and the columns kept."""
    import json

    from playground.core.errors import UserError
    from playground.stages.dataset import io as dio
    from playground.stages.preferences import io as pio

    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "cols.csv").write_text("foo,bar\n1,2\n")
    (tmp_path / "same.jsonl").write_text("".join(json.dumps({"prompt": "hi", "chosen": c, "rejected": "a"}) + "\n"
                                                 for c in ("a", "")))
    calls = [lambda: dio.stage_file(tmp_path / "empty.jsonl"), lambda: dio.stage_file(tmp_path / "cols.csv"),
             lambda: pio.stage_pairs(tmp_path / "cols.csv"), lambda: pio.stage_pairs(tmp_path / "same.jsonl"),
             lambda: dio.stage_file(tmp_path / "missing.jsonl")]
    for call in calls:
        try:
            call()
        except UserError as e:
            zh = i18n.localise(e, "zh")
            name = str(e).split(" ")[0].rstrip(":")
            assert zh.startswith(name) and zh != str(e), str(e)
            # what is left in Latin letters: the file and column names, quoted values, paths; no English sentence
            left = re.sub(r"'[^']*'|\([^()]*\.jsonl\)|\S+\.(jsonl|csv)|[\w/.-]*rejected[\w/.-]*|foo|bar|messages|"
                          r"instruction/output|conversations|prompt/completion|text", "", zh)
            assert not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", left), zh
        else:
            raise AssertionError("the import accepted a bad file")


def test_the_guards_refusals_reach_a_zh_caller_in_chinese():
    """ui/guard.py's one-line refusals (a role check, a UserError in a handler) go through i18n.localise."""
    import gradio as gr
    from gradio.context import LocalContext

    from playground.core.errors import UserError
    from playground.ui import guard

    token = LocalContext.request.set(SimpleNamespace(cookies={"pg-lang": "zh"}, headers={}, username=None))
    try:
        with pytest.raises(gr.Error) as refused, guard.user_errors():
            raise UserError("'start' needs the admin role; you are signed in as bob (viewer).")
        assert refused.value.message == "'start' 需要 管理员 角色；你当前以 bob（查看者）身份登录。"
        with pytest.raises(gr.Error) as unknown, guard.user_errors():
            raise UserError("something no entry knows: 42")
        assert unknown.value.message == "something no entry knows: 42"  # no entry: English, as written
    finally:
        LocalContext.request.reset(token)


def test_job_lines_data_notes_exports_and_hub_errors_reach_a_zh_caller_in_chinese(home):
    """Real lines of each kind, built by the services (or with their exact format where a run or the network would be
    needed): the Evaluate / Compare job's progress and refusals, a reward run's and KTO's data notes with per-reason
    drop counts, export notes, bundle summaries and hub errors. No English sentence is left; names stay."""
    from playground.core import hub, models
    from playground.core.bundle import BundleInfo
    from playground.core.errors import UserError
    from playground.stages.data import FitReport, fit_preference_rows, fitted_preference_rows
    from playground.stages.evaluate.runner import EvalJob, EvalRunner
    from playground.stages.kto import train as kto_train
    from playground.stages.kto.service import data_line
    from playground.stages.preferences import io as prefs_io

    def refusal(call) -> str:
        try:
            call()
        except UserError as e:
            return str(e)
        raise AssertionError("accepted")

    # Evaluate / Compare: the job's line while it runs (service.evaluate's phases), when done, and a second start
    job = EvalJob(1, "ada")
    job.fraction = 0.4
    lines = []
    for phase in ("generating: 3 of 8 answers (base)", "judging", "reference metrics", "done"):
        job.message = phase
        lines.append(job.status_line())
    job.done, job.report = True, {"id": 12}
    lines.append(job.status_line())
    runner, release = EvalRunner(), threading.Event()
    runner.start(lambda _p, _s: release.wait(5) and {}, owner="ada")
    lines.append(refusal(lambda: runner.start(lambda _p, _s: {}, owner="bob")))
    release.set()
    # a reward run's data notes: the drop reasons fit_pair gives (empty answer, template longer than max_length)
    tok = models.load_tokenizer(models.resolve("tiny"))
    pair = {"prompt": "Hi", "chosen": "Hello there.", "rejected": "No."}
    _, empty = fit_preference_rows(tok, [pair, {**pair, "chosen": ""}], 128)
    _, short = fit_preference_rows(tok, [pair], 8)
    both = FitReport(128)
    both.add(empty)
    both.add(short)
    assert set(both.reasons) == {"empty answer", "the chat template alone is longer than max_length=8"}
    lines.append(f"Data: 1 train / 0 eval pairs (eval accuracy is over 0 pairs). {both.line()}.")  # data.py's note
    lines.append(refusal(lambda: fitted_preference_rows("builtin:prefs", 0.2, 0, tok, 8)))
    # KTO: the form's data line and refusals (data_line), a run's note (train.py's format over its FitReport)
    lines.append(data_line("builtin:prefs", False, 0.2))
    lines.append(data_line("workspace", False, 0.2))
    lines.append(data_line("nosuchpool", False, 0.2))
    lines.append(data_line("builtin:instructions", False, 0.2))
    for extra in (", 6 rated (1 rated 3 dropped)", ", 2 labelled by votes", ", 6 rated (1 rated 3 dropped), 2 labelled by votes"):
        lines.append(f"✅ 4 train / 1 eval answers (3 desirable, 2 undesirable{extra}).")  # data_line's format
    _, fit = kto_train.fit_rows(tok, [{"prompt": [{"role": "user", "content": "Hi"}], "completion": [], "label": True}], 64)
    lines.append(f"Data: 3 train / 1 eval answers (2 desirable, 1 undesirable in train). "
                 f"{fit.line().replace('pairs', 'answers')}.")
    # exports: the dataset export's note (service.export_file's format), a bundle's summary, the pushes' refusals
    lines += ["⬇️ 5 rows as jsonl (messages) (2 without a response skipped).", "✅ Pushed 5 rows to https://hf.co/x",
              BundleInfo(Path("b.zip"), 3, 2_000_000, {"datasets": 1, "rows": 4, "pairs": 2, "runs": 1}).summary(),
              BundleInfo(Path("b.zip"), 3, 2_000_000, {"datasets": 1}, backup=Path("/w/old.db")).summary(),
              refusal(lambda: prefs_io.push_to_hub([], "me/prefs", "hf_x")),
              refusal(lambda: hub.push_rows([{"a": 1}], "me/data", "")),
              refusal(lambda: hub.push_rows([{"a": 1}], "not an id", "tok")),
              hub.message("push to", "me/data", "Max retries exceeded: connection refused"),
              hub.message("push to", "me/data", "401 Client Error: Unauthorized"),
              hub.message("push to", "me/data", "RepositoryNotFoundError: no such org")]
    for line in lines:
        zh = i18n.localise(line, "zh")
        left = re.sub(r"'[^']*'|\([^()]*\)|https?://\S+|\S+\.(zip|db)|max_length|use_votes|KTO|Hugging Face( Hub)?|"
                      r"jsonl|messages|RepositoryNotFoundError: no such org|me/\w+", "", zh)
        assert zh != line and not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", left), (line, zh)
    assert i18n.localise(lines[0], "zh") == "⏳ 40% · 正在生成：第 3 / 8 个回答（base） · " + lines[0].split(" · ")[-1][:-2] + " 秒"
    assert "（1 个：回答为空；1 个：仅聊天模板就超过了 max_length=8）" in i18n.localise(lines[6], "zh")
    assert [i18n.localise(line, "en") for line in lines] == lines  # English callers read them as written
    assert i18n.localise(lines[-4], "zh") == "'not an id' 不是形如 'your-name/my-dataset' 的 数据集 id"  # the example kept
