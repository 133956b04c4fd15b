"""A row as the model sees it in SFT: the chat-templated tokens, with trained tokens told apart from masked ones.

    tok = models.load_tokenizer(models.resolve("tiny"))
    p = token_preview(row, tok, max_length=256)     # p.n_tokens, p.n_trained, p.trained[i]
    html = render_html(p)                            # coloured spans for the UI

It reproduces what TRL's SFTTrainer does with the row (stages/sft/train.py): the row becomes a
conversational prompt/completion (core/chat.py's to_prompt_completion: the last assistant turn is the
completion); the prompt is tokenized with add_generation_prompt=True and the whole conversation without it;
the completion starts where the two token lists first differ; with completion_only_loss only the tokens after
that point carry a label; then everything is cut to max_length (keep_start). tests/test_preview.py checks the
counts against SFTTrainer's own processed dataset.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from playground.stages.dataset.io import FormatError


@dataclass
class TokenPreview:
    ids: list[int]
    pieces: list[str]  # the text of each token (multi-byte characters split over tokens are joined)
    trained: list[bool]  # True: the token carries a label (it is in the loss)
    special: list[bool]
    n_full: int  # tokens before truncation
    max_length: int | None

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def n_trained(self) -> int:
        return sum(self.trained)

    @property
    def n_masked(self) -> int:
        return self.n_tokens - self.n_trained

    @property
    def truncated(self) -> bool:
        return self.n_full > self.n_tokens


def _ids(tokenizer: Any, messages: list[dict[str, Any]], **kw: Any) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kw)
    return list(out["input_ids"])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    """Per-token text. A character split over several byte-level tokens decodes to U+FFFD alone, so such
    runs are decoded together and shown on the last token of the run (the others get '')."""
    out: list[str] = []
    start = 0
    for i in range(len(ids)):
        text = tokenizer.decode(ids[start:i + 1], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if "\ufffd" in text and i + 1 < len(ids) and i - start < 4:
            out.append("")
            continue
        out.append(text)
        start = i + 1
    return out


def token_preview(row: dict[str, Any], tokenizer: Any, max_length: int | None = None,
                  completion_only_loss: bool = True) -> TokenPreview:
    """Tokens of one instruction row with the trained/masked split SFTTrainer uses (see module docstring)."""
    from playground.core.chat import to_prompt_completion

    if not getattr(tokenizer, "chat_template", None):
        raise FormatError("this model has no chat template; pick an instruct model to preview")
    pc = to_prompt_completion(row)
    if pc is None:
        raise FormatError("this row has no user message followed by a non-empty response, so nothing is trained")
    prompt_ids = _ids(tokenizer, pc["prompt"], add_generation_prompt=True)
    full = _ids(tokenizer, pc["prompt"] + pc["completion"])
    start = _common_prefix(prompt_ids, full)
    trained = [(i >= start) if completion_only_loss else True for i in range(len(full))]
    n_full = len(full)
    if max_length:
        full, trained = full[:max_length], trained[:max_length]
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    return TokenPreview(full, _pieces(tokenizer, full), trained, [i in special_ids for i in full], n_full,
                        max_length)


_TRAIN_STYLE = ("background:rgba(34,197,94,.22);border-bottom:2px solid #16a34a;border-radius:3px;"
                "padding:1px 0;")
_MASK_STYLE = "color:#6b7280;background:rgba(148,163,184,.12);border-radius:3px;padding:1px 0;"
_SPECIAL_STYLE = "font-size:.8em;font-weight:600;color:#7c3aed;"


def _span(piece: str, trained: bool, special: bool, idx: int, tid: int) -> str:
    shown = html.escape(piece).replace("\n", "↵\n")
    style = (_TRAIN_STYLE if trained else _MASK_STYLE) + (_SPECIAL_STYLE if special else "")
    cls = "tok tok-train" if trained else "tok tok-mask"
    kind = "trained" if trained else "masked"
    return f'<span class="{cls}" style="{style}" title="#{idx} id {tid} · {kind}">{shown}</span>'


def render_html(p: TokenPreview) -> str:
    """A self-contained HTML block: counts, a legend, then every token coloured by trained / masked."""
    spans = "".join(_span(t, tr, sp, i, tid) for i, (t, tr, sp, tid) in
                    enumerate(zip(p.pieces, p.trained, p.special, p.ids, strict=True)) if t != "")
    pct = 100.0 * p.n_trained / max(1, p.n_tokens)
    trunc = ""
    if p.truncated:
        trunc = (f'<div style="color:#b45309;margin-top:4px">⚠️ {p.n_full} tokens: cut to max length '
                 f"{p.max_length}; the last {p.n_full - p.n_tokens} are never seen in training.</div>")
    chip = "display:inline-block;padding:2px 10px;border-radius:999px;margin-right:6px;font-size:.85em;"
    return (
        '<div class="pg-token-preview">'
        f'<div style="margin-bottom:6px">'
        f'<span style="{chip}background:rgba(99,102,241,.15)"><b>{p.n_tokens}</b> tokens</span>'
        f'<span style="{chip}background:rgba(34,197,94,.22)"><b>{p.n_trained}</b> trained ({pct:.0f}%)</span>'
        f'<span style="{chip}background:rgba(148,163,184,.25)"><b>{p.n_masked}</b> masked (context only)</span>'
        "</div>"
        '<div style="font-size:.8em;opacity:.8;margin-bottom:6px">'
        f'<span style="{_TRAIN_STYLE}">&nbsp;trained&nbsp;</span> tokens are in the loss; '
        f'<span style="{_MASK_STYLE}">&nbsp;masked&nbsp;</span> tokens are only context. '
        f'<span style="{_SPECIAL_STYLE}">Special tokens</span> come from the chat template; ↵ is a newline. '
        "Hover a token for its id.</div>"
        '<div style="font-family:var(--font-mono,monospace);white-space:pre-wrap;line-height:1.7;'
        'padding:10px;border:1px solid var(--border-color-primary,#e5e7eb);border-radius:8px;max-height:420px;'
        f'overflow:auto">{spans}</div>{trunc}</div>'
    )


def stored_row_html(ws: Any, row_id: int, model: str, max_length: int | None = None,
                    completion_only_loss: bool = True) -> str:
    """The token preview of a stored row (by id) with `model`'s tokenizer, as HTML for the Dataset tab."""
    from playground.stages.dataset.clean import tokenizer_for

    row = ws.get_row(int(row_id))["data"]
    return render_html(token_preview(row, tokenizer_for(model), int(max_length or 0) or None,
                                     bool(completion_only_loss)))
