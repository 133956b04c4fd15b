"""Built-in data shipped inside the package, so every tiny-cpu preset runs in an empty workspace.

- builtin:instructions  a small instruction set (messages format)
- builtin:prefs         a synthetic preference set a reward model can separate: chosen answers are
                        helpful and on-topic, rejected ones dismissive; lengths are matched so that
                        length alone does not separate them
- builtin:prompts       prompts for PPO rollouts
- builtin:<task>        prompts of a verifiable task (n_words, include, json_keys, ends_question) and
  builtin:<task>-heldout  their held-out twins: core/builtin_tasks.py
"""

from __future__ import annotations

import json
import random
from typing import Any

from playground.core import builtin_tasks
from playground.core.paths import BUILTIN_DATA_DIR

TASK_PROMPTS = tuple(builtin_tasks.prompt_sets())
PROMPT_SETS = ("builtin:prompts", *TASK_PROMPTS)  # what a rollout stage's `prompts` field accepts as builtin
BUILTIN = ("builtin:instructions", "builtin:prefs", *PROMPT_SETS)


def _read(name: str) -> list[dict[str, Any]]:
    with open(BUILTIN_DATA_DIR / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def instructions() -> list[dict[str, Any]]:
    return _read("instructions.jsonl")


def prompts() -> list[str]:
    return [r["prompt"] for r in _read("prompts.jsonl")]


_TOPICS = ["the sea", "the moon", "a garden", "trains", "bread", "winter", "music", "a river", "bees", "maps",
           "chess", "clouds", "tea", "bridges", "owls", "libraries", "bicycles", "volcanoes", "salt", "kites"]
_GOOD = ["Sure, here is a clear and friendly answer about {t}: it is interesting, useful and worth learning.",
         "Happy to help! {T} is a lovely subject; here are the key facts, explained simply and kindly.",
         "Great question. In short, {t} matters because it helps people; I hope this answer is useful.",
         "Of course! Let me explain {t} step by step, with a helpful example and a warm summary."]
_BAD = ["no. {t} is boring and i will not answer that stupid question, go away now, whatever, ugh.",
        "ugh, {t}? who cares. figure it out yourself, not my problem, stop asking me things, bye.",
        "whatever. {t} is dumb and so is this question, i refuse, leave me alone, no, no, no, no.",
        "nope. {t}? boring. not answering. go ask someone else, i do not care at all, ugh, whatever."]


def preferences(n: int = 160, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = _TOPICS[i % len(_TOPICS)]
        prompt = rng.choice(["Tell me about {t}.", "What do you know about {t}?", "Explain {t} to me.",
                             "Can you describe {t}?"]).format(t=t)
        chosen = rng.choice(_GOOD).format(t=t, T=t[0].upper() + t[1:])
        rejected = rng.choice(_BAD).format(t=t)
        rows.append({"prompt": [{"role": "user", "content": prompt}],
                     "chosen": [{"role": "assistant", "content": chosen}],
                     "rejected": [{"role": "assistant", "content": rejected}]})
    return rows


def load(name: str) -> list[Any]:
    if name == "builtin:instructions":
        return instructions()
    if name == "builtin:prefs":
        return preferences()
    if name == "builtin:prompts":
        return prompts()
    if name in TASK_PROMPTS:
        return builtin_tasks.prompt_sets()[name]
    raise KeyError(name)
