"""One reward interface for every online stage (PPO, GRPO, RLOO) and the Evaluate judges: each reward source is a
callable with TRL's reward-function signature, named as TRL logs it (`rewards/<name>/mean`).

    fns = build_rewards("rule:n_words, rule:ends_question", cfg)   # [RewardFunction, RewardFunction]
    fns[0](prompts, completions, completion_ids=None)              # list[float], one per completion
    fn = build_reward("rule:vocab_half", cfg)                      # one callable: the weighted sum (PPO, judges)

`prompts` / `completions` are strings or TRL's conversational form (lists of message dicts); `completion_ids`
(token ids) is needed only by the token rules (vocab_half, length). A spec is `rule:<name>[:<argument>]` or
`rm:<reward run id>`; several are comma-separated (a comma starts a new spec only before `rule:` / `rm:`, so
`rule:keyword:sea,moon, rule:length` is two), weighted by `reward_weights` ("1, 0.5"; TRL's `reward_weights`).

Rules (0-1 unless said otherwise; an argument after the name overrides the config field or the prompt's own target)
- vocab_half     share of completion tokens whose id is even (a fixed half of the vocabulary). Dense from a random
                 start: what the tiny-model tests train on.
- length[:N]     1 - |n - N| / N (clipped at 0), n = completion tokens, N = reward_target_length.
- keyword[:w,..] +1/k per wanted word present, -1/k per avoided ("-word") present (-1..1); words from
                 reward_keywords, e.g. "sea, moon, -ugh".
- expr           the sandboxed expression in reward_expression (playground/core/expr.py).
- n_words[:N]    answer in exactly N words, N read from the prompt ("... in exactly 4 words."): N / (N + |n - N|),
                 so 1 when exact and partial credit by distance (the builtin:n_words task).
- include[:w,..] share of the prompt's 'Use the word "x"' words present and 'Do not use the word "y"' words
                 absent, as whole words (builtin:include).
- json_keys[:k,..]  0.5 for a JSON object in the answer + 0.5 x the share of the prompt's keys ('with the keys "a"
                 and "b"') it holds; no valid object: 0.25 x the share of keys quoted in the text (builtin:json_keys).
- ends_question  1 when the answer ends with "?", 0.5 when it asks one somewhere, else 0 (builtin:ends_question).
- rm:<run id>    the scalar head of the reward model in runs/<id>/adapter (not 0-1), on the chat-formatted
                 prompt + completion, scored exactly as the Reward tab scores (stages/reward/service.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playground.core.chat import prompt_text, response_text
from playground.core.config import ConfigError
from playground.core.errors import DataError

RULES = ("vocab_half", "length", "keyword", "expr", "n_words", "include", "json_keys", "ends_question")
TASK_RULES = ("n_words", "include", "json_keys", "ends_question")  # the builtin:<task> prompt sets' own rules
BatchFn = Callable[[list[Any], list[str], list[list[int]] | None], list[float]]
DEFAULT_N_WORDS = 5


def _bad_spec(spec: str) -> ConfigError:
    return ConfigError(f"reward {spec!r} is not known: use {', '.join('rule:' + r for r in RULES)} or "
                       "rm:<reward run id>")


def split_specs(text: str) -> list[str]:
    """'rule:keyword:sea,moon, rule:length' -> ['rule:keyword:sea,moon', 'rule:length']."""
    return [s.strip() for s in re.split(r",\s*(?=(?:rule|rm):)", text or "") if s.strip()]


def parse_weights(text: str, n: int, where: str = "reward_weights") -> list[float]:
    """'1, 0.5' -> [1.0, 0.5]; '' -> n ones. ConfigError unless there is one finite number per reward."""
    if not (text or "").strip():
        return [1.0] * n
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise ConfigError(f"{where} must be comma-separated numbers, got {text!r}") from None
    if len(weights) != n or any(w != w or abs(w) == float("inf") for w in weights):
        raise ConfigError(f"{where} needs one finite number per reward ({n}), got {text!r}")
    return weights


def parse_keywords(text: str) -> tuple[list[str], list[str]]:
    words = [w.strip().lower() for w in (text or "").split(",") if w.strip()]
    wanted = [w for w in words if not w.startswith("-")]
    avoided = [w[1:].strip() for w in words if w.startswith("-") and w[1:].strip()]
    return wanted, avoided


# ---- the rules, as batch functions (prompts, texts, ids) -> scores ---------------------------------------------
def _need_ids(name: str, ids: list[list[int]] | None) -> list[list[int]]:
    if ids is None:
        raise DataError(f"reward rule:{name} counts tokens: it needs completion_ids")
    return ids


def vocab_half(prompts: list[Any], responses: list[str], response_ids: list[list[int]] | None) -> list[float]:  # noqa: ARG001
    return [sum(1 for t in ids if t % 2 == 0) / len(ids) if ids else 0.0 for ids in _need_ids("vocab_half", response_ids)]


def make_length(target: int) -> BatchFn:
    target = max(1, int(target))

    def length(prompts: list[Any], responses: list[str], response_ids: list[list[int]] | None) -> list[float]:  # noqa: ARG001
        return [max(0.0, 1.0 - abs(len(ids) - target) / target) for ids in _need_ids("length", response_ids)]

    return length


def make_keyword(wanted: list[str], avoided: list[str]) -> BatchFn:
    k = max(1, len(wanted) + len(avoided))

    def keyword(prompts: list[Any], responses: list[str], response_ids: Any = None) -> list[float]:  # noqa: ARG001
        out = []
        for text in responses:
            low = text.lower()
            out.append((sum(w in low for w in wanted) - sum(w in low for w in avoided)) / k)
        return out

    return keyword


_N_WORDS = re.compile(r"(?:exactly\s+)?(\d+)\s+words?\b", re.IGNORECASE)


def n_words_target(prompt: Any, fixed: int | None = None) -> int:
    """The N of 'in exactly N words' in the prompt (`fixed` when given; DEFAULT_N_WORDS when the prompt has none)."""
    if fixed:
        return fixed
    m = _N_WORDS.search(prompt_text(prompt))
    return max(1, int(m.group(1))) if m else DEFAULT_N_WORDS


def make_n_words(fixed: int | None = None) -> BatchFn:
    def n_words(prompts: list[Any], responses: list[str], response_ids: Any = None) -> list[float]:  # noqa: ARG001
        out = []
        for p, text in zip(prompts, responses, strict=True):
            target, n = n_words_target(p, fixed), len(text.split())
            out.append(target / (target + abs(n - target)))
        return out

    return n_words


_USE = re.compile(r'(?<!not )\buse the words?\s+((?:"[^"]+"(?:\s*,\s*|\s+and\s+)?)+)', re.IGNORECASE)
_AVOID = re.compile(r'\b(?:do not|don\'t|never) use the words?\s+((?:"[^"]+"(?:\s*,\s*|\s+and\s+)?)+)', re.IGNORECASE)
_QUOTED = re.compile(r'"([^"]+)"')


def include_targets(prompt: Any) -> tuple[list[str], list[str]]:
    """(wanted, avoided) words a prompt names: 'Use the word "x"', 'Do not use the word "y"'."""
    text = prompt_text(prompt)
    wanted = [w.lower() for m in _USE.finditer(text) for w in _QUOTED.findall(m.group(1))]
    avoided = [w.lower() for m in _AVOID.finditer(text) for w in _QUOTED.findall(m.group(1))]
    return wanted, avoided


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


def make_include(fixed: tuple[list[str], list[str]] | None = None) -> BatchFn:
    def include(prompts: list[Any], responses: list[str], response_ids: Any = None) -> list[float]:  # noqa: ARG001
        out = []
        for p, text in zip(prompts, responses, strict=True):
            wanted, avoided = fixed if fixed else include_targets(p)
            total = len(wanted) + len(avoided)
            hits = sum(_has_word(text, w) for w in wanted) + sum(not _has_word(text, w) for w in avoided)
            out.append(hits / total if total else 0.0)
        return out

    return include


def json_keys_targets(prompt: Any) -> list[str]:
    """The quoted keys after 'key'/'keys' in the prompt: 'with the keys "name" and "age"' -> ['name', 'age']."""
    text = prompt_text(prompt)
    at = text.lower().find("key")
    return _QUOTED.findall(text[at:]) if at >= 0 else []


def _json_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start:end + 1])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def make_json_keys(fixed: list[str] | None = None) -> BatchFn:
    def json_keys(prompts: list[Any], responses: list[str], response_ids: Any = None) -> list[float]:  # noqa: ARG001
        out = []
        for p, text in zip(prompts, responses, strict=True):
            keys = fixed or json_keys_targets(p)
            obj = _json_object(text)
            if obj is not None:
                out.append(0.5 + (0.5 * sum(k in obj for k in keys) / len(keys) if keys else 0.5))
            else:
                out.append(0.25 * sum(f'"{k}"' in text for k in keys) / len(keys) if keys else 0.0)
        return out

    return json_keys


def ends_question(prompts: list[Any], responses: list[str], response_ids: Any = None) -> list[float]:  # noqa: ARG001
    return [1.0 if t.rstrip().endswith("?") else 0.5 if "?" in t else 0.0 for t in responses]


def make_rm(run_id: str, device: str = "auto", batch_size: int = 16) -> BatchFn:
    """A trained reward model as a reward. Loading and scoring go through the Reward tab's own code, so text is
    formatted and truncated exactly as in reward training (the start of a long text is cut, never the last token
    the reward is read from)."""
    from playground.stages.reward import service as rm_service

    if not rm_service.reward_run_dir(run_id).is_dir():
        raise DataError(f"reward run '{run_id}' not found (expected {rm_service.reward_run_dir(run_id)})")
    model, tok = rm_service.load_reward_model(run_id, device)
    if hasattr(model, "merge_and_unload"):  # frozen here: the LoRA folded into the weights, one matmul per layer
        max_length = model.max_length
        model = model.merge_and_unload()
        model.max_length = max_length

    def rm(prompts: list[Any], responses: list[str], response_ids: Any = None) -> list[float]:  # noqa: ARG001
        return rm_service.score_batch(model, tok, prompts, responses, batch_size=batch_size)

    return rm


# ---- TRL's signature --------------------------------------------------------------------------------------------
class RewardFunction:
    """A reward source with TRL's reward-function signature. `strip_ids` (e.g. EOS and pad) are dropped from
    completion_ids first, so a trainer that keeps the EOS token scores exactly as PPO, which drops it."""

    def __init__(self, name: str, inner: BatchFn, strip_ids: set[int] | None = None) -> None:
        self.__name__ = name  # TRL logs rewards/<__name__>/mean
        self.inner = inner
        self.strip_ids = set(strip_ids or ())

    def __call__(self, prompts: list[Any], completions: list[Any], completion_ids: list[list[int]] | None = None,
                 **kwargs: Any) -> list[float]:
        texts = [response_text(c) for c in completions]
        ids = None
        if completion_ids is not None:
            ids = [[int(t) for t in row if int(t) not in self.strip_ids] for row in completion_ids]
        return [float(x) for x in self.inner(list(prompts), texts, ids)]

    def __getattr__(self, name: str) -> Any:  # the expression's run counters (errors, scored, clipped...)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class WeightedRewards:
    """Several reward functions as one score: sum of weight x reward (what PPO and the judges call)."""

    def __init__(self, funcs: list[RewardFunction], weights: list[float]) -> None:
        self.funcs, self.weights = funcs, weights
        self.__name__ = "+".join(f.__name__ for f in funcs)

    def __call__(self, prompts: list[Any], completions: list[Any], completion_ids: list[list[int]] | None = None,
                 **kwargs: Any) -> list[float]:
        total = [0.0] * len(completions)
        for f, w in zip(self.funcs, self.weights, strict=True):
            for i, s in enumerate(f(prompts, completions, completion_ids, **kwargs)):
                total[i] += w * s
        return total

    @property
    def errors(self) -> float:
        return float(sum(getattr(f.inner, "errors", 0) for f in self.funcs))


def _words_arg(arg: str, spec: str) -> tuple[list[str], list[str]]:
    wanted, avoided = parse_keywords(arg)
    if not wanted and not avoided:
        raise ConfigError(f"reward {spec!r}: name the words after the colon, e.g. rule:include:sea,-ugh")
    return wanted, avoided


def _int_arg(arg: str, spec: str) -> int:
    try:
        n = int(arg)
    except ValueError:
        raise ConfigError(f"reward {spec!r}: the number after the colon must be a whole number") from None
    if n < 1:
        raise ConfigError(f"reward {spec!r}: the number after the colon must be at least 1")
    return n


def _rule(name: str, arg: str, spec: str, cfg: Any) -> BatchFn:
    if name == "vocab_half":
        return vocab_half
    if name == "length":
        return make_length(_int_arg(arg, spec) if arg else getattr(cfg, "reward_target_length", 32))
    if name == "keyword":
        wanted, avoided = parse_keywords(arg or getattr(cfg, "reward_keywords", ""))
        if not wanted and not avoided:
            raise ConfigError("reward rule:keyword needs reward_keywords, e.g. 'sea, moon, -ugh'")
        return make_keyword(wanted, avoided)
    if name == "expr":
        from playground.core.expr import make_expr_reward

        source = getattr(cfg, "reward_expression", "")
        if not (source or "").strip():
            raise ConfigError("reward rule:expr needs reward_expression, e.g. -abs(n_tokens - 20) / 20")
        return make_expr_reward(source)
    if name == "n_words":
        return make_n_words(_int_arg(arg, spec) if arg else None)
    if name == "include":
        return make_include(_words_arg(arg, spec) if arg else None)
    if name == "json_keys":
        return make_json_keys([k.strip() for k in arg.split(",") if k.strip()] if arg else None)
    if name == "ends_question":
        return ends_question
    raise _bad_spec(spec)


def build_one(spec: str, cfg: Any = None, device: str = "auto", strip_ids: set[int] | None = None) -> RewardFunction:
    """One spec -> a RewardFunction; ConfigError (one line) when unknown or incomplete, DataError for a missing run."""
    spec = (spec or "").strip()
    kind, _, rest = spec.partition(":")
    if kind == "rule":
        name, _, arg = rest.partition(":")
        name = name.strip()
        return RewardFunction(name, _rule(name, arg.strip(), spec, cfg), strip_ids)
    if kind == "rm":
        run_id = rest.strip()
        if not run_id:
            raise ConfigError("reward rm: needs a reward run id, e.g. rm:reward-20250101-120000-ab12")
        return RewardFunction(f"rm_{run_id}", make_rm(run_id, device), strip_ids)
    raise _bad_spec(spec)


def build_rewards(spec: str, cfg: Any = None, device: str = "auto",
                  strip_ids: set[int] | None = None) -> list[RewardFunction]:
    """Every spec of a comma-separated list, each its own RewardFunction (names made unique: TRL logs each)."""
    specs = split_specs(spec)
    if not specs:
        raise _bad_spec(spec or "")
    funcs, seen = [], {}
    for s in specs:
        f = build_one(s, cfg, device, strip_ids)
        seen[f.__name__] = seen.get(f.__name__, 0) + 1
        if seen[f.__name__] > 1:
            f.__name__ = f"{f.__name__}_{seen[f.__name__]}"
        funcs.append(f)
    return funcs


def build_reward(spec: str, cfg: Any = None, device: str = "auto") -> RewardFunction | WeightedRewards:
    """The spec(s) as one callable (prompts, completions, completion_ids) -> scores: the function itself for one spec,
    else the sum weighted by cfg.reward_weights (ones when the config has none)."""
    funcs = build_rewards(spec, cfg, device)
    weights = parse_weights(getattr(cfg, "reward_weights", ""), len(funcs))
    if len(funcs) == 1 and weights == [1.0]:
        return funcs[0]
    return WeightedRewards(funcs, weights)


def check_specs(spec: str, cfg: Any, where: str) -> None:
    """Config-time check (no model loads): every spec known and complete, an expression parsed (in a budgeted child
    process, as PPO's form does), the weights one per spec. ConfigError naming `where`."""
    specs = split_specs(spec)
    try:
        if not specs:
            raise _bad_spec(spec or "")
        for s in specs:
            if s.startswith("rm:"):
                if not s[3:].strip():
                    raise ConfigError("reward rm: needs a reward run id, e.g. rm:reward-20250101-120000-ab12")
            elif s.strip() == "rule:expr":
                from playground.core.expr import check_expression

                if not (getattr(cfg, "reward_expression", "") or "").strip():
                    raise ConfigError("reward rule:expr needs reward_expression, e.g. -abs(n_tokens - 20) / 20")
                problem = check_expression(cfg.reward_expression)
                if problem:
                    raise ConfigError(problem)
            else:
                build_one(s, cfg)
        parse_weights(getattr(cfg, "reward_weights", ""), len(specs))
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
