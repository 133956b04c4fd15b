"""The UI's languages: English and Simplified Chinese, through Gradio's own `gr.I18n`.

    from playground.ui.i18n import t
    gr.Button(t("sft.start"))          # the browser shows the catalogue entry for its language
    gr.Info(say("sft.started", request, run=run_id))   # server-side text (toasts, one-line errors) in the caller's language

One catalogue file per language (`locales/en.json`, `locales/zh.json`), keys named by place (`sft.start`,
`arena.vote_a`). Gradio translates in the front end, from the browser's locale; the header's language switch stores a
choice in this browser (localStorage `pg-lang`) and the page script (`HEAD`) makes it the locale Gradio reads before
the app mounts. Text a handler returns is not translated by Gradio, so `say` picks the catalogue from the request
(the `pg-lang` cookie the switch also sets, else Accept-Language). The CLI stays English. tests/test_i18n.py fails
on a key missing in either language, a key no code uses, or a `t("...")` with no entry.
"""

from __future__ import annotations

import dataclasses
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.ui import guard
from playground.ui.widgets import live_page

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = {"en": "English", "zh": "简体中文"}


@lru_cache(maxsize=1)
def catalogues() -> dict[str, dict[str, str]]:
    return {lang: json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8")) for lang in LANGUAGES}


@lru_cache(maxsize=1)
def i18n() -> gr.I18n:
    """What `launch(i18n=...)` takes; "zh" also serves zh-CN / zh-Hans browsers (Gradio falls back on the prefix)."""
    return gr.I18n(**catalogues())


def t(key: str) -> Any:
    """A label / text Gradio translates in the browser. A key missing from the English catalogue is a bug: raise."""
    if key not in catalogues()["en"]:
        raise KeyError(f"i18n key {key!r} is not in locales/en.json")
    return i18n()(key)


def group_title(title: str) -> Any:
    """A form group's title (the tabs' GROUPS name groups in English): its `group.<slug>` entry, else the title as
    written (a group added later shows in English until the catalogues have it; tests/test_i18n.py lists them)."""
    key = "group." + re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
    return t(key) if key in catalogues()["en"] else title


def field_help_key(stage: str, name: str) -> str:
    """The catalogue key of a stage field's tooltip: `field.<name>.help` for the help the first stage with that field
    gives, `field.<stage>.<name>.help` for a stage whose help differs (stages with the same text share one key)."""
    from playground.stages.registry import STAGES

    helps = {s: {f.name: f.metadata.get("help", "") for f in dataclasses.fields(c)} for s, c in STAGES.items()}
    have = [s for s in STAGES if name in helps[s]]
    first = next(s for s in have if helps[s][name] == helps[stage][name])
    return f"field.{name}.help" if first == have[0] else f"field.{first}.{name}.help"


def field_entries() -> dict[str, str]:
    """The English catalogue entries every stage dataclass needs: `field.<name>` (label) and its help keys. Print them
    with `python -m playground.ui.i18n` after changing a field's help; tests/test_i18n.py fails until both catalogues
    have them."""
    from playground.stages.registry import STAGES

    out: dict[str, str] = {}
    for stage, cls in STAGES.items():
        for f in dataclasses.fields(cls):
            out.setdefault(f"field.{f.name}", f.name.replace("_", " "))
            out.setdefault(field_help_key(stage, f.name), f.metadata.get("help", ""))
    return out


def lang_of(request: Any) -> str:
    """The caller's language: the header switch's cookie, else the browser's Accept-Language, else English."""
    headers = getattr(request, "headers", None) or {}
    cookies = getattr(request, "cookies", None) or {}
    chosen = cookies.get("pg-lang", "")
    if chosen in LANGUAGES:
        return chosen
    for part in str(headers.get("accept-language", "")).split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


def say(key: str, request: Any = None, **fields: Any) -> str:
    """Server-side text in the caller's language, with `{field}` placeholders filled. Without `request`, the request
    Gradio is serving (inside a handler), else English."""
    return text(key, lang_now(request), **fields)


def lang_now(request: Any = None) -> str:
    """The language of `request`, else of the request Gradio is serving, else English (outside any request)."""
    if request is None:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
    return lang_of(request)


def text(key: str, lang: str, /, **fields: Any) -> str:
    """A catalogue entry in `lang` (English when that catalogue lacks it), `{field}` placeholders filled."""
    cat = catalogues()
    entry = cat.get(lang, {}).get(key) or cat["en"][key]
    return entry.format(**fields) if fields else entry


# ---- messages written in English elsewhere: services' errors, the trainers' phases, plot titles and metric helps.
# The services stay UI-free and English (the CLI prints them); the UI maps a message to the caller's language here,
# gettext-style: a catalogue entry under one of these prefixes holds the English text as the source writes it, its
# variable parts as {placeholders}. A message no entry matches stays English. tests/test_i18n.py checks that every
# entry's fixed text is still in the source (a reworded message fails there) and that each one round-trips.
MESSAGE_PREFIXES = ("err.", "job.", "plot.", "metric.", "col.")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# what a placeholder of these names matches (any other: any text, as little as fits)
NUMBER = r"[0-9][0-9.,]*"
SHAPES = {"n": NUMBER, "line": NUMBER, "count": NUMBER, "step": NUMBER, "total": NUMBER, "stage": r"\w+",
          "s": "s?", "s2": "s?",  # an English plural's ending ('pair{s}'): the other languages leave it out
          "at": r"(?:line|row) [0-9]+(?: \(line [0-9]+\))?"}  # where in a file: 'line 3', 'row 2 (line 3)'
KEPT = {"repo", "kind"}  # placeholders shown as written, never translated: a hub repo id, the slug of an example id


@lru_cache(maxsize=1)
def _message_entries() -> tuple[dict[str, str], list[tuple[re.Pattern[str], str]]]:
    """({English text: key} for entries without placeholders, [(pattern, key)] for the others, most fixed text
    first: the most specific entry wins)."""
    exact: dict[str, str] = {}
    patterns: list[tuple[int, re.Pattern[str], str]] = []
    for key, en in catalogues()["en"].items():
        if not key.startswith(MESSAGE_PREFIXES):
            continue
        parts = _PLACEHOLDER.split(en)
        if len(parts) == 1:
            exact[en] = key
            continue
        rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{SHAPES.get(p, '.*?')})"
                     for i, p in enumerate(parts))
        patterns.append((len(_PLACEHOLDER.sub("", en)), re.compile(rx, re.DOTALL), key))
    patterns.sort(key=lambda x: -x[0])
    return exact, [(rx, key) for _, rx, key in patterns]


def _field_label(name: str, lang: str) -> str:
    """A config field named in a message, as its form shows it: 'learning rate (learning_rate)' in Chinese."""
    key = f"field.{name}"
    return f"{text(key, lang)} ({name})" if key in catalogues()["en"] else name


def localise(message: Any, lang: str | None = None, _depth: int = 0) -> str:
    """An English message (a service's error, a trainer's phase, a plot title; or an exception) in `lang`, default
    the caller's language. The parts a template leaves open are translated too when an entry matches them (a
    form's "form", an import's row problem); a `{field}` names a config field by its label."""
    msg = str(message)
    lang = lang or lang_now()
    if lang == "en" or not msg or _depth > 3:
        return msg
    exact, patterns = _message_entries()
    if msg in exact:
        return text(exact[msg], lang)
    for rx, key in patterns:
        m = rx.fullmatch(msg)
        if m:
            parts = {k: v if k in KEPT else _field_label(v, lang) if k == "field" else localise(v, lang, _depth + 1)
                     for k, v in m.groupdict().items()}
            return text(key, lang, **parts)
    return msg


def frame(df: Any, lang: str | None = None, values: tuple[str, ...] = ("state",)) -> Any:
    """A table for display in `lang` (default: the caller's): its column headers through the `col.*` entries, and the
    cells of the `values` columns (a run's state) through the message entries. Only for tables no handler reads back
    by column name."""
    lang = lang or lang_now()
    if lang == "en" or df is None or not hasattr(df, "rename"):
        return df
    df = df.copy()
    for col in values:
        if col in df.columns:
            df[col] = df[col].map(lambda v: localise(v, lang) if isinstance(v, str) else v)
    return df.rename(columns={c: localise(c, lang) for c in df.columns if isinstance(c, str)})


def redraw_on_load(ctx: Any, tables: dict[Any, Any]) -> None:
    """Tables and charts built before any request (so in English): each page load redraws them in the caller's
    language, all in one page-load event. `tables` maps a component to a function of nothing that returns its value
    (a table through `frame`; a chart: line_chart speaks the caller's language)."""
    makers: dict[Any, Any] | None = getattr(ctx, "_i18n_tables", None)
    if makers is None:
        makers = ctx._i18n_tables = {}
        comps: list[Any] = []  # the event's outputs: this list grows with each call until build_app wires it

        @guard.needs(Role.VIEWER)
        def on_load_tables() -> list[Any]:
            return [makers[c]() for c in comps]

        ctx.on_page_load.append((on_load_tables, comps))
        ctx._i18n_table_list = comps
    makers.update(tables)
    ctx._i18n_table_list.extend(tables)


# The page script: the stored choice becomes navigator.language before Gradio's front end reads it, and the header
# switch stores a new choice (localStorage for the page, a cookie for `say`) and reloads.
HEAD = """<script>(function(){
  var pick = null; try { pick = localStorage.getItem('pg-lang'); } catch (e) {}
  if (pick) {
    try { Object.defineProperty(Navigator.prototype, 'language', {get: function(){ return pick; }, configurable: true});
          Object.defineProperty(Navigator.prototype, 'languages', {get: function(){ return [pick]; }, configurable: true});
    } catch (e) { console.warn('playground: cannot set the language', e); }
  }
  var tries = 0, mark = setInterval(function(){  // the switch shows the language in use once the header exists
    var s = document.getElementById('pg-lang');
    if (s) { s.value = ((pick || navigator.language || 'en').slice(0, 2) === 'zh') ? 'zh' : 'en'; clearInterval(mark); }
    else if (++tries > 100) clearInterval(mark);
  }, 100);
  window.pgSetLang = function(lang){
    // Gradio's front end matches 'zh-CN' to the zh catalogue, a bare 'zh' to its own Chinese only (checked)
    try { localStorage.setItem('pg-lang', lang === 'zh' ? 'zh-CN' : lang); } catch (e) {}
    document.cookie = 'pg-lang=' + lang + '; path=/; SameSite=Lax; max-age=31536000';
    location.reload();
  };
})();</script>"""


def auth_message() -> str:
    """Gradio's sign-in page shows one fixed string (it does not translate it): both languages, one per line."""
    return "<br>".join(catalogues()[lang]["auth.message"] for lang in LANGUAGES)


class LangFirst(live_page.HeadFirst):
    """ASGI middleware: HEAD first in every HTML page (beside live_page.PAGE_HEAD), before Gradio reads the locale."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.script = HEAD.encode()


def switch_html() -> str:
    """The header's language switch (plain HTML: it changes only this browser, so it needs no server handler)."""
    opts = "".join(f'<option value="{code}">{name}</option>' for code, name in LANGUAGES.items())
    return (f'<label class="pg-lang">🌐 <select id="pg-lang" aria-label="Language / 语言" '
            f'onchange="window.pgSetLang(this.value)">{opts}</select></label>')


guard.LOCALISE[:] = [localise]  # the role check's and user_errors' refusals, in the caller's language


if __name__ == "__main__":
    print(json.dumps(field_entries(), ensure_ascii=False, indent=1))
