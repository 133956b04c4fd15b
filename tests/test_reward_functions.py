"""The one reward interface (stages/reward/functions.py): TRL's signature, the same numbers for PPO, GRPO and RLOO on
the same texts, the built-in verifiable tasks' rules reading their targets from the prompts, several rewards with
weights, and one-line errors for unknown specs."""

from __future__ import annotations

import math

import pytest

from playground.core import builtin
from playground.core.config import ConfigError
from playground.stages.registry import load_config
from playground.stages.reward import functions as F

EOS = 2


def _conv(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def test_ppo_grpo_and_rloo_get_the_same_numbers_on_the_same_texts() -> None:
    """PPO calls build_reward with (messages, texts, ids without EOS); TRL calls each function with conversational
    prompts and completions and ids that keep the EOS: the scores are the same for every rule."""
    from playground.stages.ppo.rules import build_reward

    prompts = ["Describe the sea in exactly 4 words.", 'Write one sentence about tea. Use the word "warm".',
               'Give a JSON object about owls with the keys "name" and "color".', "Ask me one question about bread."]
    texts = ["Blue, vast and deep.", "Warm tea is nice and it is warm.", '{"name": "Hoot", "size": 3}',
             "Do you like rye bread?"]
    ids = [[4, 7, 10, 12], [3, 3, 8], [6, 5], [9, 10, 11, 12, 14]]
    overrides = ["reward_target_length=4", "reward_keywords=tea, -ugh", "reward_expression=n_words + n_tokens / 10"]
    specs = ["rule:vocab_half", "rule:length", "rule:keyword", "rule:expr", "rule:n_words", "rule:include",
             "rule:json_keys", "rule:ends_question", "rule:n_words:3, rule:length:2"]
    ppo_cfg = load_config("ppo", None, overrides)
    for stage in ("grpo", "rloo"):
        cfg = load_config(stage, None, overrides + ["reward_weights="])
        for spec in specs:
            ppo_scores = build_reward(spec, ppo_cfg)([_conv(p) for p in prompts], texts, ids)
            funcs = F.build_rewards(spec, cfg, strip_ids={EOS})
            trl = [f(prompts=[_conv(p) for p in prompts],
                     completions=[[{"role": "assistant", "content": t}] for t in texts],
                     completion_ids=[row + [EOS] for row in ids], trainer_state=None) for f in funcs]
            trl_total = [sum(col) for col in zip(*trl, strict=True)]  # weights 1: TRL's weighted sum
            assert trl_total == pytest.approx(ppo_scores), (stage, spec)
            plain = [f(prompts, texts, ids) for f in funcs]  # plain strings work the same
            assert plain == trl, spec


def test_rules_score_the_tasks_from_the_prompts() -> None:
    cfg = load_config("grpo", None)

    def score(spec: str, prompt: str, text: str) -> float:
        return F.build_rewards(spec, cfg)[0]([prompt], [text], [[1]])[0]

    p = "Describe the sea in exactly 4 words."
    assert score("rule:n_words", p, "Blue, vast and deep.") == 1.0
    assert score("rule:n_words", p, "one two three four five six seven eight") == pytest.approx(0.5)
    assert score("rule:n_words:2", p, "Blue sea") == 1.0  # the argument overrides the prompt's target
    inc = 'Write one sentence about tea. Use the word "warm". Do not use the word "cold".'
    assert score("rule:include", inc, "Warm tea.") == 1.0
    assert score("rule:include", inc, "Cold tea, warmish.") == 0.0
    assert score("rule:include", inc, "Tea.") == 0.5
    js = 'Give a JSON object about owls with the keys "name" and "color".'
    assert score("rule:json_keys", js, 'Sure: {"name": "Hoot", "color": "brown"}') == 1.0
    assert score("rule:json_keys", js, '{"name": "Hoot"}') == 0.75
    assert score("rule:json_keys", js, 'the "name" is Hoot') == 0.125
    assert score("rule:json_keys", js, "no json") == 0.0
    assert score("rule:ends_question", "Ask me.", "Why? Because.") == 0.5
    assert score("rule:ends_question", "Ask me.", "Is it? ") == 1.0


@pytest.mark.parametrize("task", ["n_words", "include", "json_keys", "ends_question"])
def test_every_builtin_task_prompt_states_a_target_its_rule_reads(task: str) -> None:
    for name in (f"builtin:{task}", f"builtin:{task}-heldout"):
        prompts = builtin.load(name)
        assert len(prompts) >= 8 and len(set(prompts)) == len(prompts)
        for p in prompts:
            if task == "n_words":
                assert F._N_WORDS.search(p), p
            elif task == "include":
                assert F.include_targets(p)[0], p
            elif task == "json_keys":
                assert len(F.json_keys_targets(p)) == 2, p
    train, held = set(builtin.load(f"builtin:{task}")), set(builtin.load(f"builtin:{task}-heldout"))
    assert not train & held


def test_several_rewards_are_named_and_weighted() -> None:
    cfg = load_config("grpo", None, ["reward=rule:keyword:sea,moon, rule:n_words, rule:n_words:2",
                                     "reward_weights=1, 0.5, 2"])
    funcs = F.build_rewards(cfg.reward, cfg)
    assert [f.__name__ for f in funcs] == ["keyword", "n_words", "n_words_2"]
    total = F.build_reward(cfg.reward, cfg)(["Say it in exactly 4 words."], ["the sea and moon"], [[1, 2]])
    assert total == [pytest.approx(1.0 + 0.5 * 1.0 + 2 * (2 / 4))]


@pytest.mark.parametrize("spec,weights", [("rule:nope", ""), ("magic", ""), ("rm:", ""), ("rule:n_words:zero", ""),
                                          ("rule:vocab_half, rule:length", "1"), ("rule:vocab_half", "x")])
def test_bad_specs_are_one_line_config_errors(spec: str, weights: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config("grpo", None, [f"reward={spec}", f"reward_weights={weights}"])
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("config:") and ("reward" in msg)


def test_token_rules_need_ids_and_nan_never_leaks() -> None:
    from playground.core.errors import DataError

    fn = F.build_rewards("rule:vocab_half")[0]
    with pytest.raises(DataError, match="completion_ids"):
        fn(["p"], ["t"])
    assert all(math.isfinite(x) for x in F.build_rewards("rule:n_words")[0](["p"], [""]))
