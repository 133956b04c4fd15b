"""Assemble the Blocks app: header + one tab per stage of the loop, every handler behind its role check.

    auth = AuthConfig.from_env()          # off by default: one person on 127.0.0.1 is admin
    ctx = make_context()
    demo = build_app(ctx, auth)
    demo.launch(**launch_kwargs(auth))
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
import httpx
from gradio import networking
from starlette.middleware import Middleware

from playground.core import space
from playground.core.auth import AuthConfig, Role
from playground.core.jobs import JobRunner
from playground.core.models import ModelError, device_label, resolve
from playground.core.paths import home
from playground.core.workspace import Workspace
from playground.ui import guard, i18n
from playground.ui.context import AppContext, TabId
from playground.ui.i18n import say, t
from playground.ui.tabs import dataset, evaluate, ppo, preferences, reward, rl, sft
from playground.ui.widgets import live, live_page, workspace_panel

log = logging.getLogger(__name__)

# (tab id, title, blurb, build): the tabs in loop order; the id is what ctx.switch_to selects
TABS: list[tuple[TabId, str, str, Callable[[AppContext], None]]] = [
    (TabId.DATASET, "1 · Dataset", "Build the instruction data everything downstream trains on.", dataset.build),
    (TabId.SFT, "2 · SFT", "LoRA supervised fine-tuning: imitate the demonstrations.", sft.build),
    (TabId.PREFERENCES, "3 · Preferences", "Judge two answers side by side; every vote is a training pair.",
     preferences.build),
    (TabId.REWARD, "4 · Reward model", "Learn a scalar reward from the votes; inspect its biases.", reward.build),
    (TabId.PPO, "5 · PPO", "Optimise the policy against the reward, held near the reference by a KL penalty.",
     ppo.build),
    (TabId.RL, "5b · GRPO / RLOO", "Group-based online RL: several completions per prompt, no value model.", rl.build),
    (TabId.EVALUATE, "6 · Evaluate", "Win-rates vs a baseline by judges the policy was not trained on.",
     evaluate.build),
]

CSS = """
.pg-header {padding: 6px 12px; border-radius: 8px; background: var(--block-background-fill);}
.pg-progress {position: relative; height: 20px; border-radius: 10px; background: var(--border-color-primary);
  overflow: hidden;}
.pg-progress-bar {height: 100%; background: linear-gradient(90deg, #6366f1, #22c55e); transition: width .5s;}
.pg-progress-label {position: absolute; inset: 0; text-align: center; font-size: 12px; line-height: 20px;}
.pg-objective {border-left: 4px solid #6366f1; padding-left: 10px;}
.pg-help {font-size: 12px; opacity: .8;}
.pg-minw {min-width: min(170px, 100%) !important;}  /* widgets/forms.py NARROW */
.tok {font-family: var(--font-mono); white-space: pre-wrap; border-radius: 3px; padding: 0 1px;}
.tok-train {background: rgba(34,197,94,.25); border-bottom: 2px solid #22c55e;}
.tok-mask {opacity: .55;}
"""


def make_context(default_model: str = "bundled") -> AppContext:
    ws = Workspace()
    jobs = JobRunner(ws)
    jobs.reconcile()
    return AppContext(ws=ws, jobs=jobs, default_model=default_model)


def header_md(ctx: AppContext) -> str:
    """The header in the caller's language (English outside a request)."""
    try:
        model = resolve(ctx.default_model).label
    except ModelError as e:
        model = f"⚠️ {e}"
    banner = space.banner_text()
    device = f"<span id=\"pg-device\">{device_label()}</span>"  # the page poll keeps it live
    return (say("header.line", model=model, device=device, workspace=f"`{home()}`")
            + (f"\n\n**{banner}**" if banner else ""))


@guard.needs(Role.VIEWER)
def header_now(ctx: AppContext) -> str:
    """The header again at page load, now that the request says the language."""
    return header_md(ctx)


@guard.needs(Role.VIEWER)
def who_md() -> str:
    """The header's second line: who you are signed in as and what your role lets you do."""
    c = guard.caller()
    if not guard.auth_config().enabled:
        return say("header.local")
    can = say(f"header.can_{c.role.name.lower()}") if c.role in (Role.ADMIN, Role.ANNOTATOR, Role.VIEWER) \
        else say("header.can_nothing")
    name = c.name or say("header.not_signed_in")
    return say("header.who", name=name, role=c.role.name.lower(), can=can)


# the top-level tab now selected (its id, as TABS names it), read once the click has re-rendered the tab bar
REMEMBER_TAB_JS = ("async () => { await new Promise((r) => setTimeout(r, 30));"
                   " const tab = document.querySelector('#pg-tabs [role=tab][aria-selected=true][data-tab-id]');"
                   f" return tab ? tab.dataset.tabId : '{TabId.DATASET.value}'; }}")


@guard.needs(Role.VIEWER)
def reopen_tab(stored: str | None) -> Any:
    # the first tab is open anyway: selecting it again would throw a quick early click back to it
    reopen = stored in {t[0].value for t in TABS} and stored != TABS[0][0].value
    return gr.Tabs(selected=stored) if reopen else gr.skip()


# after the page-load event filled every tab: a mark that scripts and browser tests wait on (instead of a sleep)
PAGE_LOADED_JS = "() => { document.body.dataset.pgLoaded = '1'; }"


def page_load(loads: list[tuple[Callable[[], Any], list[Any]]]) -> Callable[[], list[Any]]:
    """The page-load handlers of the header and every tab (fn of nothing, its outputs) as ONE event. Each Gradio
    event costs the browser work that grows with the whole page (~1,100 components): with 13 load events (16 in
    all) opening the page cost 10.9 CPU-s on 2 cores, with this one (5 in all) 7.6 (bench/page_load.py). Each part
    keeps its own role (a caller below it gets its outputs unchanged) and its own failure (logged; the other parts
    still fill theirs); a part returning the wrong number of values is a bug and fails the event."""

    def parts(fn: Callable[[], Any], outputs: list[Any]) -> list[Any]:
        if guard.caller().role < guard.role_needed(fn):
            return [gr.skip()] * len(outputs)
        try:
            got = fn()
        except Exception:  # noqa: BLE001 - one tab's failure must not blank the others
            log.exception("page load: %s failed", getattr(fn, "__name__", fn))
            return [gr.skip()] * len(outputs)
        if isinstance(got, dict):
            return [got.get(c, gr.skip()) for c in outputs]
        got = list(got) if isinstance(got, (list, tuple)) else [got]
        if len(got) != len(outputs):
            raise RuntimeError(f"page load: {fn.__name__} returned {len(got)} values for {len(outputs)} outputs")
        return got

    @guard.needs(min((guard.role_needed(fn) for fn, _ in loads), default=Role.VIEWER))
    def on_page_load_all() -> list[Any]:
        return [v for fn, outputs in loads for v in parts(fn, outputs)]

    return on_page_load_all


def build_app(ctx: AppContext, auth: AuthConfig | None = None) -> gr.Blocks:
    auth = auth or AuthConfig()
    with gr.Blocks(title="RLHF Playground") as demo:
        header = gr.Markdown(header_md(ctx), elem_classes=["pg-header"])
        with gr.Row():
            who = gr.Markdown(elem_id="pg-who")
            if auth.oauth:
                gr.LoginButton(scale=0)
            gr.HTML(i18n.switch_html(), elem_id="pg-lang-box", min_width=140, scale=0)
        gr.Markdown(t("header.loop"))
        last_tab = gr.BrowserState(TabId.DATASET.value, storage_key="playground-tab")
        with gr.Tabs(elem_id="pg-tabs") as tabs:
            ctx.tabs = tabs  # a tab's handler may switch tabs: return ctx.switch_to(TabId.X)
            for tab_id, _, _, build_tab in TABS:
                with gr.Tab(t(f"tab.{tab_id.value}"), id=tab_id.value):  # title, blurb: TABS's text in en.json
                    gr.Markdown(t(f"tab.{tab_id.value}.blurb"))
                    build_tab(ctx)
        workspace_panel.build(ctx)  # admin: bundles and backups
        # in the page alone (no server round trip: each Gradio event costs the browser work that grows with the
        # page): the tab just opened, kept in this browser so a reload reopens it
        tabs.select(None, None, [last_tab], js=REMEMBER_TAB_JS, show_progress="hidden")
        demo.load(reopen_tab, [last_tab], [tabs], api_visibility="private", show_progress="hidden")
        loads = [(who_md, [who]), (guard.bind(header_now, ctx), [header]), *ctx.on_page_load]
        demo.load(page_load(loads), None, [c for _, outputs in loads for c in outputs], api_visibility="private",
                  show_progress="hidden").then(None, js=PAGE_LOADED_JS, show_progress="hidden")
        live.wire_page(demo, ctx)  # the page script: live panels and pickers follow the workspace
    ctx.roles = guard.install(demo, auth)  # after every event exists: each one gets its role check
    return demo


def serve_local(demo: gr.Blocks, concurrency: int | None = 16, auth: AuthConfig | None = None) -> str:
    """Serve a built app (build_app) from this process on a free loopback port with launch_kwargs, as `make run`
    does (head script, middleware, CSS, sign-in when `auth` gates pages), and return its URL. For tests, benches
    and the loop walk; the caller closes the demo. `concurrency`: the queue's default concurrency limit (None:
    Gradio's own, 1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queued = demo.queue() if concurrency is None else demo.queue(default_concurrency_limit=concurrency)
    with patient_start_check():
        queued.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                      **launch_kwargs(auth))
    return f"http://127.0.0.1:{port}/"


START_CHECK_S = 60.0


@contextlib.contextmanager
def patient_start_check(limit_s: float = START_CHECK_S) -> Iterator[None]:
    """During launch(), Gradio asks its own fresh server for the page once with a 3 s timeout and, if that first
    answer is late, stops with "When localhost is not accessible, a shareable link must be created" although the
    server is up. On a busy machine (a laptop CPU loading a model, a test worker beside two others on 2 cores) the
    first page can take longer, so for the length of the launch this retries the same request for up to `limit_s`."""
    original = networking.url_ok

    def url_ok(url: str) -> bool:
        deadline = time.monotonic() + limit_s
        while True:
            try:
                if httpx.head(url, timeout=max(3.0, limit_s / 4), verify=False).status_code in (
                        200, 401, 301, 302, 303, 307, 308):
                    return True
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    networking.url_ok = url_ok
    try:
        yield
    finally:
        networking.url_ok = original


MAX_UPLOAD = os.environ.get("PLAYGROUND_MAX_UPLOAD", "50mb")


def launch_kwargs(auth: AuthConfig | None = None) -> dict[str, Any]:
    """Theme, CSS, the page's head script (live_page.PAGE_HEAD: first in every page through the HeadFirst
    middleware; Gradio's own `head` option only as a fallback where the app is mounted elsewhere), the upload cap,
    and Gradio's login page when users or an annotator code are set."""
    kw: dict[str, Any] = {"css": CSS, "theme": gr.themes.Soft(), "max_file_size": MAX_UPLOAD,
                          "head": live_page.PAGE_HEAD + i18n.HEAD, "i18n": i18n.i18n(),
                          "app_kwargs": {"middleware": [Middleware(live_page.HeadFirst), Middleware(i18n.LangFirst)]}}
    if auth is not None and auth.gates_pages:
        kw["auth"] = auth.login
        kw["auth_message"] = i18n.auth_message()
    return kw
