"""Built-in verifiable tasks: prompt sets whose answers a rule can check, so online RL (GRPO, RLOO, PPO) has a
reward a 135M model can climb in minutes on a CPU. Each task's prompts state their own target, and the rule of the
same name (stages/reward/functions.py) reads it back from the prompt text, so any stage scores them alike.

    builtin:n_words        "Describe the sea in exactly 4 words."          rule:n_words
    builtin:include        'Write one sentence about tea. Use the word "warm".'   rule:include
    builtin:json_keys      'Give a JSON object about owls with the keys "name" and "color".'   rule:json_keys
    builtin:ends_question  "Reply to this with a question: I like bread."  rule:ends_question

`builtin:<task>` holds the training prompts; `builtin:<task>-heldout` the held-out ones, on topics the training set
never mentions (what "held-out reward" is measured on).
"""

from __future__ import annotations

import random

TASKS = ("n_words", "include", "json_keys", "ends_question")

_TRAIN_TOPICS = ["the sea", "the moon", "a garden", "trains", "bread", "winter", "music", "a river", "bees", "maps",
                 "chess", "clouds", "tea", "bridges", "owls", "libraries", "bicycles", "volcanoes", "salt", "kites",
                 "forests", "rain", "coffee", "cats"]
_HELDOUT_TOPICS = ["deserts", "lanterns", "whales", "snow", "markets", "candles", "islands", "violins"]
_WORDS = ["warm", "bright", "small", "old", "green", "quiet", "happy", "blue"]
_KEYS = ["name", "color", "size", "age", "place", "mood"]


def _n_words(topic: str, rng: random.Random) -> str:
    n = rng.choice([3, 4, 5, 6])
    verb = rng.choice(["Describe", "Summarise", "Explain"])
    return f"{verb} {topic} in exactly {n} words."


def _include(topic: str, rng: random.Random) -> str:
    return f'Write one sentence about {topic}. Use the word "{rng.choice(_WORDS)}".'


def _json_keys(topic: str, rng: random.Random) -> str:
    a, b = rng.sample(_KEYS, 2)
    return f'Give a JSON object about {topic} with the keys "{a}" and "{b}".'


def _ends_question(topic: str, rng: random.Random) -> str:
    return rng.choice([f"Reply to this with a question: I like {topic}.",
                       f"Ask me one question about {topic}.",
                       f"Answer with a question only: what about {topic}?"])


_MAKERS = {"n_words": _n_words, "include": _include, "json_keys": _json_keys, "ends_question": _ends_question}


def task_prompts(task: str, heldout: bool = False, per_topic: int = 2) -> list[str]:
    """The task's prompts: `per_topic` per topic, the same every call (seeded by the task name)."""
    rng = random.Random(f"{task}-{heldout}")
    topics = _HELDOUT_TOPICS if heldout else _TRAIN_TOPICS
    out: list[str] = []
    for t in topics:
        for _ in range(per_topic):
            p = _MAKERS[task](t, rng)
            if p not in out:
                out.append(p)
    return out


def prompt_sets() -> dict[str, list[str]]:
    """{"builtin:<task>": training prompts, "builtin:<task>-heldout": held-out prompts} for every task."""
    out = {}
    for task in TASKS:
        out[f"builtin:{task}"] = task_prompts(task)
        out[f"builtin:{task}-heldout"] = task_prompts(task, heldout=True)
    return out
