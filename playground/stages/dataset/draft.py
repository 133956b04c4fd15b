"""Draft responses with a model, for a person to read and correct (a demonstration is their version).

    texts = draft_responses(cache, "tiny", "", [[{"role": "user", "content": "Say hi"}]], 0.7, 32)
    n = draft_missing(ws, cache, "my-set", Sampling("tiny", "sft-run-id", 0.7, 128))  # fills empty responses

`cache` is anything with `cached(key, loader)` (the app's context): a model is loaded once per (model, adapter)
and shared. An adapter is an SFT run id or an adapter folder; a run's adapter sits on that run's base model
(core.runs), whatever model is picked for the tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from playground.core.errors import ModelError
from playground.core.runs import adapter_dir, base_model, read_config
from playground.core.workspace import Workspace
from playground.stages.dataset.service import build_messages, dataset_rows, edit_row, summarise_row

BATCH = 8


class ModelCache(Protocol):
    def cached(self, key: tuple[str, str], loader: Callable[[], Any]) -> Any: ...


@dataclass(frozen=True)
class Sampling:
    """Which model drafts, and how."""

    model: str
    adapter: str = ""
    temperature: float = 0.7
    max_new_tokens: int = 128


def resolve_adapter(model: str, adapter: str) -> tuple[str, str]:
    """(base model, adapter folder) to load; ("model", "") without an adapter. ModelError when the run has none."""
    adapter = (adapter or "").strip()
    if not adapter:
        return model, ""
    path = adapter_dir(adapter)
    if path is None:
        raise ModelError(f"No adapter '{adapter}': not an adapter folder and not a finished run with an adapter.")
    return (base_model(adapter) if read_config(adapter) else model), str(path)


def draft_responses(cache: ModelCache, model: str, adapter: str, prompts: list[list[dict[str, str]]],
                    temperature: float, max_new_tokens: int, seed: int = 0) -> list[str]:
    """Responses from the model for chat prompts, in batches of BATCH."""
    from playground.core import generation

    model, adapter = resolve_adapter(model, adapter)
    m, tok = cache.cached((model, adapter), lambda: generation.load_model(model, adapter))
    src = generation.Source(model=model, adapter=adapter, temperature=float(temperature), top_p=0.95,
                            max_new_tokens=int(max_new_tokens))
    out: list[str] = []
    for start in range(0, len(prompts), BATCH):
        chunk = prompts[start:start + BATCH]
        res = generation.generate_batch(m, tok, chunk, [src] * len(chunk),
                                        [seed + start + i for i in range(len(chunk))])
        out += res.texts
    return out


def draft_one(cache: ModelCache, s: Sampling, system: str, instruction: str, inp: str) -> str:
    """A response for the Add form's fields (nothing is stored)."""
    row = build_messages(system, instruction, inp, "")
    return draft_responses(cache, s.model, s.adapter, [row["messages"][:-1]], s.temperature, s.max_new_tokens)[0]


def missing(ws: Workspace, name: str | None) -> list[tuple[int, dict[str, Any]]]:
    """(id, row) of every row without a response."""
    ids, rows = dataset_rows(ws, name)
    return [(i, r) for i, r in zip(ids, rows, strict=True) if not summarise_row(r)[2].strip()]


def draft_missing(ws: Workspace, cache: ModelCache, name: str | None, s: Sampling,
                  on_start: Callable[[int], None] | None = None) -> int:
    """Fill every empty response of `name` with a draft; returns how many were drafted."""
    todo = missing(ws, name)
    if not todo:
        return 0
    if on_start:
        on_start(len(todo))
    prompts = []
    for _, r in todo:
        msgs = [m for m in r["messages"] if str(m.get("content", "")).strip()]
        prompts.append(msgs[:-1] if msgs and msgs[-1]["role"] == "assistant" else msgs)
    texts = draft_responses(cache, s.model, s.adapter, prompts, s.temperature, s.max_new_tokens)
    for (rid, r), text in zip(todo, texts, strict=True):
        ws.update_row(rid, edit_row(r, *summarise_row(r)[:2], text))
    return len(todo)
