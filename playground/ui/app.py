"""Assemble the Blocks app: header + one tab per stage of the loop, every handler behind its role check.

    auth = AuthConfig.from_env()          # off by default: one person on 127.0.0.1 is admin
    ctx = make_context()
    demo = build_app(ctx, auth)
    demo.launch(**launch_kwargs(auth))
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from playground.core import space
from playground.core.auth import AuthConfig, Role
from playground.core.jobs import JobRunner
from playground.core.models import ModelError, device_label, resolve
from playground.core.paths import home
from playground.core.workspace import Workspace
from playground.ui import guard
from playground.ui.context import AppContext, TabId
from playground.ui.tabs import dataset, evaluate, ppo, preferences, reward, rl, sft
from playground.ui.widgets import live, live_page, workspace_panel

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
    try:
        model = resolve(ctx.default_model).label
    except ModelError as e:
        model = f"⚠️ {e}"
    banner = space.banner_text()
    return (f"### 🧪 RLHF Playground\n**Model:** {model} · "
            f"**Device:** <span id=\"pg-device\">{device_label()}</span> · "  # the page poll keeps it live
            f"**Workspace:** `{home()}`" + (f"\n\n**{banner}**" if banner else ""))


@guard.needs(Role.VIEWER)
def who_md() -> str:
    """The header's second line: who you are signed in as and what your role lets you do."""
    c = guard.caller()
    if not guard.auth_config().enabled:
        return "🔓 Local mode: no sign-in, you can do everything (bind to 127.0.0.1 only)."
    can = {Role.ADMIN: "train, stop, delete, import, export and vote",
           Role.ANNOTATOR: "vote, rate, edit and write answers; dashboards are read-only",
           Role.VIEWER: "read the dashboards"}.get(c.role, "nothing")
    name = c.name or "not signed in"
    return f"👤 **{name}** · role **{c.role.name.lower()}**: you can {can}."


@guard.needs(Role.VIEWER)
def remember_tab(evt: gr.SelectData) -> str:
    """The tab the user picked, kept in this browser so a reload reopens it."""
    index = evt.index if isinstance(evt.index, int) else 0
    return TABS[index][0].value if 0 <= index < len(TABS) else TabId.DATASET.value


@guard.needs(Role.VIEWER)
def reopen_tab(stored: str | None) -> Any:
    # the first tab is open anyway: selecting it again would throw a quick early click back to it
    reopen = stored in {t[0].value for t in TABS} and stored != TABS[0][0].value
    return gr.Tabs(selected=stored) if reopen else gr.skip()


def build_app(ctx: AppContext, auth: AuthConfig | None = None) -> gr.Blocks:
    auth = auth or AuthConfig()
    with gr.Blocks(title="RLHF Playground") as demo:
        gr.Markdown(header_md(ctx), elem_classes=["pg-header"])
        with gr.Row():
            who = gr.Markdown(elem_id="pg-who")
            if auth.oauth:
                gr.LoginButton(scale=0)
        gr.Markdown("**The loop:** dataset → SFT → preferences → reward model → PPO. "
                    "Each tab shows the objective it optimises beside its live plot.")
        last_tab = gr.BrowserState(TabId.DATASET.value, storage_key="playground-tab")
        with gr.Tabs() as tabs:
            ctx.tabs = tabs  # a tab's handler may switch tabs: return ctx.switch_to(TabId.X)
            for tab_id, title, blurb, build_tab in TABS:
                with gr.Tab(title, id=tab_id.value):
                    gr.Markdown(f"*{blurb}*")
                    build_tab(ctx)
        workspace_panel.build(ctx)  # admin: bundles and backups
        tabs.select(remember_tab, None, [last_tab], api_visibility="private", show_progress="hidden")
        demo.load(reopen_tab, [last_tab], [tabs], api_visibility="private", show_progress="hidden")
        demo.load(who_md, None, [who], api_visibility="private", show_progress="hidden")
        for fn, outputs in ctx.on_page_load:
            demo.load(fn, None, outputs, api_visibility="private", show_progress="hidden")
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
    queued.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                  **launch_kwargs(auth))
    return f"http://127.0.0.1:{port}/"


MAX_UPLOAD = os.environ.get("PLAYGROUND_MAX_UPLOAD", "50mb")


def launch_kwargs(auth: AuthConfig | None = None) -> dict[str, Any]:
    """Theme, CSS, the page's head script (live_page.PAGE_HEAD: first in every page through the HeadFirst
    middleware; Gradio's own `head` option only as a fallback where the app is mounted elsewhere), the upload cap,
    and Gradio's login page when users or an annotator code are set."""
    kw: dict[str, Any] = {"css": CSS, "theme": gr.themes.Soft(), "max_file_size": MAX_UPLOAD,
                          "head": live_page.PAGE_HEAD,
                          "app_kwargs": {"middleware": [Middleware(live_page.HeadFirst)]}}
    if auth is not None and auth.gates_pages:
        kw["auth"] = auth.login
        kw["auth_message"] = ("Sign in with your account, or with your name and the room's annotator code "
                              "to vote in the workshop pool.")
    return kw
