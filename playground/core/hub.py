"""The one way anything reaches the Hugging Face Hub: checked, quick to fail, and never leaking the token.

    push_rows(rows, "me/my-prefs", token)           # a dataset repo from JSON-able rows
    push_folder("runs/x/adapter", "me/my-lora", token)  # a model repo from a folder

The token comes from the caller (the user's session or an explicit env var they set); it is passed to the
call in memory only — never written to disk, env or logs — and scrubbed from every message. Nothing here
falls back to the server's own `huggingface-cli login`: an empty token is refused.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from playground.core.errors import UserError


class HubError(UserError):
    """A hub operation failed; the message never contains the token."""


REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")


def reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so an offline machine gets its answer in seconds instead of after minutes of retries."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def scrub(text: str, token: str | None) -> str:
    text = text.replace(token, "***") if token else text
    return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)


def message(verb: str, repo_id: str, text: str) -> str:
    """One line for the user: unreachable, refused token, or the first line of the error."""
    first = text.splitlines()[0][:200] if text else "unknown error"
    low = text.lower()
    if any(w in low for w in ("offline", "connect", "resolve", "network", "timed out", "max retries", "unreachable",
                              "couldn't reach", "name or service", "not known")):
        return f"cannot {verb} '{repo_id}': the Hugging Face hub is not reachable from here"
    if "401" in low or "unauthorized" in low or ("invalid" in low and "token" in low):
        return f"cannot {verb} '{repo_id}': the token was refused (needs write access)"
    return f"cannot {verb} '{repo_id}': {first}"


def _check(repo_id: str, token: str | None, what: str) -> tuple[str, str]:
    repo_id = (repo_id or "").strip()
    token = (token or "").strip()
    if not token:
        raise HubError("a Hugging Face token with write access is needed to push (it is used once, never stored)")
    if not REPO_ID.fullmatch(repo_id):
        raise HubError(f"'{repo_id}' is not a {what} id like 'your-name/my-{what}'")
    if not reachable():
        raise HubError(message("push to", repo_id, "unreachable"))
    return repo_id, token


def push_rows(rows: list[dict[str, Any]], repo_id: str, token: str | None, private: bool = True,
              split: str = "train") -> str:
    """Push rows as a Hub dataset; returns its URL."""
    if not rows:
        raise HubError("nothing to push: no rows")
    repo_id, token = _check(repo_id, token, "dataset")
    try:
        from datasets import Dataset

        Dataset.from_list(rows).push_to_hub(repo_id, token=token, private=private, split=split)
    except Exception as e:  # noqa: BLE001 - network / auth errors of every kind become one line
        raise HubError(message("push to", repo_id, scrub(str(e), token))) from None
    return f"https://huggingface.co/datasets/{repo_id}"


def push_folder(folder: str | Path, repo_id: str, token: str | None, private: bool = True) -> str:
    """Upload a folder (an adapter, a merged model) as a model repo; returns its URL."""
    if not Path(folder).is_dir():
        raise HubError(f"nothing to push: {folder} is not a folder")
    repo_id, token = _check(repo_id, token, "model")
    try:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, exist_ok=True, private=private)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    except Exception as e:  # noqa: BLE001 - offline hub, bad token...: one line for the user
        raise HubError(message("push to", repo_id, scrub(str(e), token))) from None
    return f"https://huggingface.co/{repo_id}"
