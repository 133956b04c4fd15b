"""rule:expr: the sandboxed expression reward — values, refused constructs, runtime errors, a tiny PPO run.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_reward_expr.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from playground.core.config import ConfigError
from playground.core.expr import EXAMPLES, check_expression, compile_expression, make_expr_reward
from playground.stages.registry import load_config
from playground.stages.trainer import DataError

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "presets" / "ppo" / "tiny-cpu.yaml"


pytestmark = pytest.mark.usefixtures("home")  # conftest: a fresh PLAYGROUND_HOME per test, the shared model cache


# ---- values -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr,text,prompt,n_tokens,want", [
    ('-abs(n_tokens - 20) / 20 + 0.5 * ("please" in text.lower())', "Yes, Please!", "", 10, 0.0),
    ("n_words + n_chars", "a bc", "", 2, 6.0),
    ("sum(len(w) for w in words) / max(1, n_words)", "ab abcd", "", 2, 3.0),
    ("sum(1 for w in words if w.startswith('s'))", "sea sky moon", "", 3, 2.0),
    ("any(w in prompt.lower() for w in words)", "the sea", "Describe the SEA", 2, 1.0),
    ("text.strip().endswith(('.', '!'))", " done. ", "", 1, 1.0),
    ("1 if n_tokens > 3 else -1", "x", "", 4, 1.0),
    ("n_tokens > 3 and 2 or 0.5", "x", "", 1, 0.5),
    ("text[:3].upper() == 'THE'", "the end", "", 2, 1.0),
    ("words[-1].count('a') - text.find('b')", "b a aa", "", 3, 2.0),
    ("round(sqrt(n_chars), 2) + min(3, n_words) ** 2", "abcd", "", 1, 3.0),
    ("' '.join(words).split(' ').count('x') + words.count('x')", "x y x", "", 3, 4.0),
    ("not text", "", "", 0, 1.0),
    ("len(str(n_words)) * 2 - int('3') + float('0.5')", "a b c", "", 3, -0.5),
])
def test_values_on_hand_examples(expr, text, prompt, n_tokens, want):
    assert compile_expression(expr).score(text, prompt, n_tokens) == pytest.approx(want)


def test_examples_menu_all_compile_and_score():
    for name, expr in EXAMPLES.items():
        value = compile_expression(expr).score("Sure, please. Sorry!", "Ask", 6)
        assert math.isfinite(value), name


# ---- refused constructs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("expr,reason", [
    ("__import__('os')", "function '__import__' is not allowed"),
    ("().__class__", "attribute '.__class__' is not allowed"),
    ("().__class__.__bases__[0].__subclasses__()", "method '.__subclasses__()' is not allowed"),
    ("open('x')", "function 'open' is not allowed"),
    ("text.__class__", "attribute '.__class__' is not allowed"),
    ("text.lower", "attribute '.lower' is not allowed"),
    ("text.format(1)", "method '.format()' is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("(lambda: 1)()", "only the listed functions"),
    ("9**9**9", "exponent 387420489 is too large"),
    ("'a'*10**9", "a string longer than 100000 would be built"),
    ("round(5, -10**9)", "round() takes at most 20 digits"),
    ("foo + 1", "name 'foo' is not allowed (use: text, prompt, n_tokens, n_words, n_chars, words)"),
    ("__builtins__", "name '__builtins__' is not allowed"),
    ("getattr(text, 'lower')", "function 'getattr' is not allowed"),
    ("[w for w in words]", "list comprehension"),
    ("{w for w in words}", "set comprehension"),
    ("f'{text}'", "f-string is not allowed"),
    ("(n := 3)", "':=' assignment is not allowed"),
    ("sum(1 for __x in words)", "generator variable '__x' is not allowed"),
    ("len(text, key=1)", "keyword arguments are not allowed"),
    ("text == None", "the constant None is not allowed"),
    ("text is not text", "the comparison IsNot is not allowed"),
    ("1/0", "`1/0` always fails: ZeroDivisionError"),
    ("text + 1", "fails on every sample response: TypeError"),
    ("'%s' % text", "'%' formatting of strings is not allowed"),
    ("words * 3", "lists cannot be repeated"),
    ("text", "gave str, not a number"),
    ("n_words +", "invalid syntax"),
    ("", "reward_expression is empty"),
])
def test_forbidden_constructs_are_refused_with_the_reason(expr, reason):
    with pytest.raises(ConfigError) as info:
        compile_expression(expr)
    msg = str(info.value)
    assert reason in msg and "\n" not in msg and msg.startswith("reward_expression")
    assert check_expression(expr) == msg


def test_message_names_the_column():
    assert check_expression("n_words + foo").endswith("(column 11)")
    assert check_expression("1 +* 2").endswith("invalid syntax (column 4)")
    assert check_expression("n_words + ").endswith("(at the end)")


def test_limits_at_run_time_fail_the_row_not_the_process():
    # sizes that depend on the response are bounded when they happen, not at build time
    expr = compile_expression("len(text * n_chars)")
    assert expr.score("ab", "", 1) == 4.0
    with pytest.raises(ArithmeticError, match="longer than"):
        expr.score("x" * 1000, "", 1)
    with pytest.raises(ArithmeticError, match="too much work"):
        compile_expression("sum(1 for a in words for b in words for c in words)").score(" ".join(["w"] * 200))
    # searches and method calls are charged by what they read, so nested loops over them stop early too
    text = " ".join(f"w{i}" for i in range(400))
    with pytest.raises(ArithmeticError, match="too much work"):
        compile_expression("sum(text.count(a + b) for a in words for b in words)").score(text)
    with pytest.raises(ArithmeticError, match="too much work"):
        compile_expression("sum((a + b) in text for a in words for b in words)").score(text)
    assert compile_expression("sum(w in prompt.lower() for w in words)").score(text, "w1 w2 w3") == 3.0


# ---- runtime errors -----------------------------------------------------------------------------------------
def test_one_failing_row_scores_zero_and_the_rest_still_score(capsys):
    fn = make_expr_reward("10 / (n_words - 2)")
    prompts = [[{"role": "user", "content": "hi"}]] * 3
    scores = fn(prompts, ["a b", "a b c", "a b c d"], [[1, 2], [1, 2, 3], [1, 2, 3, 4]])
    assert scores == [0.0, 10.0, 5.0]
    assert fn.errors == 1 and fn.scored == 3 and "ZeroDivisionError" in fn.last_error
    assert "1/3 responses failed" in capsys.readouterr().out


def test_non_finite_result_is_an_error_row():
    fn = make_expr_reward("exp(n_chars)")  # exp(1000) overflows; exp(1) is fine
    assert fn([None, None], ["x" * 1000, "x"], [[1], [1]]) == [0.0, pytest.approx(math.e)]
    assert fn.errors == 1


def test_whole_batch_failing_is_a_data_error():
    fn = make_expr_reward("1 / (n_words - 2)")
    with pytest.raises(DataError, match="failed on all 2 responses.*ZeroDivisionError"):
        fn([None, None], ["a b", "c d"], [[1], [2]])


def test_prompt_variable_is_the_last_user_message():
    fn = make_expr_reward("len(prompt)")
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "abc"},
            {"role": "assistant", "content": "zz"}, {"role": "user", "content": "hello"}]
    assert fn([msgs, "xy"], ["", ""], [[], []]) == [5.0, 2.0]


def test_build_reward_wiring():
    from playground.stages.ppo.rules import build_reward

    cfg = load_config("ppo", None, ["reward=rule:expr", "reward_expression=n_tokens * 2 - n_words"])
    fn = build_reward("rule:expr", cfg)
    assert fn([None], ["a b"], [[5, 6, 7]]) == [4.0]
    with pytest.raises(ConfigError, match="needs reward_expression"):
        build_reward("rule:expr", load_config("ppo", None))
    with pytest.raises(ConfigError, match="name 'oops' is not allowed"):
        build_reward("rule:expr", load_config("ppo", None, ["reward_expression=oops"]))


# ---- through the CLI and the trainer ---------------------------------------------------------------------------
def test_cli_bad_expression_fails_with_one_line_before_loading_the_model(tmp_path, capsys):
    from playground.cli import main

    # a model that does not exist: had the model been loaded first, the error would be about the model
    rc = main(["ppo", "--config", str(PRESET), "--set", "reward=rule:expr", "--set", "reward_expression=n_wrds / 2",
               "--set", "model=/nonexistent/model-dir", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert err[-1].startswith("error:") and "name 'n_wrds' is not allowed" in err[-1]
    assert json.loads((tmp_path / "r" / "status.json").read_text())["state"] == "failed"


def test_ppo_trains_two_updates_on_an_expression_reward(tmp_path):
    import torch

    from playground.stages.ppo import train as ppo

    expr = "1 + n_chars / 100 + 0.25 * ('e' in text.lower()) + 0 * n_tokens"
    cfg = load_config("ppo", PRESET, [
        "reward=rule:expr", f"reward_expression={expr}", "response_length=4", "rollout_batch_size=8",
        "per_device_train_batch_size=8", "total_updates=2", "sample_every=2",
    ])
    assert cfg.reward_expression == expr
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ppo.run(cfg, run_dir)
    finally:
        torch.set_num_threads(n)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    scores = [r["score"] for r in rows if "score" in r]
    assert len(scores) == 2 and all(s >= 1.0 for s in scores)  # the expression is >= 1 for every response
    # the logged sample scores are exactly the expression on the logged responses
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
    assert {s["update"] for s in samples} == {0, 2}
    want = compile_expression(expr)
    for s in samples:
        assert s["score"] == pytest.approx(want.score(s["response"], s["prompt"], 0), abs=1e-6)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["reward"] == "rule:expr" and (run_dir / "adapter" / "adapter_config.json").is_file()


def test_config_validation_refuses_a_bad_expression_before_a_job_is_queued():
    """The form's Start button goes through load/validate: a typo must be refused there, not in the job."""

    with pytest.raises(ConfigError, match="name 'foo' is not allowed"):
        load_config("ppo", PRESET, ["reward=rule:expr", "reward_expression=foo + 1"])
    ok = load_config("ppo", PRESET, ["reward=rule:expr", "reward_expression=-abs(n_tokens - 3)"])
    assert ok.reward_expression == "-abs(n_tokens - 3)"
    # the expression is only checked when it is the reward in use
    assert load_config("ppo", PRESET, ["reward_expression=foo + 1"]).reward == "rule:vocab_half"


# -- bounded before it allocates, budgeted outside the web server ---------------------------------------------
def test_join_and_str_are_sized_before_they_are_built() -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    big_join = "(text * 1000).join(words * 1000)"
    msg = check_expression(big_join, isolated=False)
    assert "longer than" in msg or "fails on every sample" in msg, msg
    assert "str() takes a number" in check_expression("len(str(words + words))", isolated=False)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: no 10^8-char string built


def test_live_check_evaluates_in_a_budgeted_child_process() -> None:
    import resource

    # a legal expression that does a lot of work: the child pays for it, not this process
    heavy = "sum(text.count(a) for a in words for b in words for c in words)"
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    msg = check_expression(heavy)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    assert msg == "" or "work" in msg  # fine on the short samples, or refused for its work: one line either way
    assert (cpu1.ru_utime - cpu0.ru_utime) < 1.0  # the evaluation ran elsewhere
    assert check_expression("n_wrds / 2").startswith("reward_expression: name 'n_wrds' is not allowed")
    assert check_expression("-abs(n_tokens - 20) / 20") == ""


def test_huge_finite_reward_is_clipped_not_inf() -> None:
    from playground.core.expr import REWARD_CLIP

    reward = make_expr_reward("10.0 ** min(n_tokens * 100, 100) * 1e250")
    scores = reward(["p", "p"], ["a b c", "a"], [[1, 2, 3], [1]])
    assert scores == [REWARD_CLIP, REWARD_CLIP] and reward.clipped == 2 and reward.errors == 0
    exp_reward = make_expr_reward("exp(n_tokens * 100) - 1")  # overflows: scored 0 and counted, never inf
    out = exp_reward(["p", "p"], ["a b c", ""], [[1, 2, 3], []])
    assert all(abs(s) <= REWARD_CLIP for s in out)
