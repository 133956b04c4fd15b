"""Prompts and responses as plain strings or chat messages: the one set of helpers everyone uses.

A prompt is either a string (one user turn) or a list of {"role", "content"} messages; a response is a string
or a list of assistant messages. TRL's formats use both.
"""

from __future__ import annotations

import json
from typing import Any

Messages = list[dict[str, str]]


def as_messages(prompt: str | Messages) -> Messages:
    """A string becomes one user turn; messages are copied with only role and content."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
            for m in prompt if isinstance(m, dict)]


def prompt_text(prompt: Any) -> str:
    """What the user asked: the string itself, or the last user turn ("" when there is none)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1]) if users else ""
    return ""


def response_text(response: Any) -> str:
    """The answer as text: the string itself, or the assistant turns joined."""
    if isinstance(response, str):
        return response
    if isinstance(response, list):
        return "".join(str(m.get("content", "")) for m in response
                       if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    return "" if response is None else str(response)


def prompt_key(prompt: Any) -> str:
    """A stable text key for a prompt (hashing, de-duplication): the string, or canonical JSON of messages."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False, sort_keys=True)


def to_prompt_completion(row: dict[str, Any]) -> dict[str, Any] | None:
    """One instruction row -> {"prompt": [...messages], "completion": [assistant message]} or None if unusable."""
    if "messages" in row:
        msgs = [m for m in row["messages"] if isinstance(m, dict) and str(m.get("content", "")).strip()]
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        if last is None or last == 0:
            return None
        return {"prompt": msgs[:last], "completion": [msgs[last]]}
    if "prompt" in row and "completion" in row:
        p, c = row["prompt"], row["completion"]
        if isinstance(p, str):
            if not p.strip() or not str(c).strip():
                return None
            return {"prompt": [{"role": "user", "content": p}], "completion": [{"role": "assistant", "content": str(c)}]}
        return {"prompt": p, "completion": c}
    return None
