"""Access control, checked the way an attacker would: raw HTTP against a launched app with sign-in on.

Every server function (every `fn_index`, whether or not it is on the API page, timer ticks and page loads
included) is called as anonymous, viewer, annotator and admin; each must be refused or allowed exactly as its
role says, and anonymous callers must get nothing at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest

from playground.core.auth import AuthConfig, Role, check_password, hash_password, parse_users
from playground.core.errors import ConfigError

from .conftest import REPO, free_port

USERS = {"boss": ("boss-pw", Role.ADMIN), "watcher": ("watch-pw", Role.VIEWER)}
CODE = "room-42"


# -- identity -------------------------------------------------------------------------------------------------
def test_users_roles_and_hashed_passwords() -> None:
    h = hash_password("s3cret")
    users = parse_users(f"alice:{h},bob:pw:annotator,carol:pw2:viewer")
    assert users["alice"].role is Role.ADMIN and users["bob"].role is Role.ANNOTATOR
    assert check_password(users["alice"].password, "s3cret") and not check_password(users["alice"].password, "x")
    auth = AuthConfig(users=users, annotator_code=CODE)
    assert auth.login("alice", "s3cret") and not auth.login("alice", "wrong")
    assert auth.login("dana", CODE) and auth.role_of("dana") is Role.ANNOTATOR  # workshop join
    assert not auth.login("<img src=x onerror=alert(1)>", CODE)  # a self-chosen name is shown and stored: plain only
    assert not auth.login("alice", CODE)  # a listed user's name needs that user's password, not the room code
    assert not auth.login("erin", "guess") and auth.role_of("erin") is Role.NOBODY
    assert auth.login("carol", "pw2") and auth.role_of("carol") is Role.VIEWER
    assert AuthConfig().role_of(None) is Role.ADMIN  # auth off: one person on loopback
    for bad in ("nopassword", "x:y:wizard", "a:b,a:c"):
        with pytest.raises(ConfigError) as e:
            parse_users(bad)
        assert "\n" not in str(e.value) and "y" not in str(e.value).split(":")[-1][:1]


def test_non_loopback_bind_without_auth_is_refused() -> None:
    r = subprocess.run([sys.executable, str(REPO / "app.py"), "--host", "0.0.0.0"], capture_output=True, text=True,
                       timeout=60, cwd=REPO)
    assert r.returncode == 2 and "refusing to serve on 0.0.0.0 without sign-in" in r.stderr


# -- the launched app -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import os

    h = tmp_path_factory.mktemp("securehome")
    old = os.environ.get("PLAYGROUND_HOME")
    os.environ["PLAYGROUND_HOME"] = str(h)
    from playground.ui.app import build_app, make_context, serve_local

    spec = ",".join(f"{u}:{pw}:{role.name.lower()}" for u, (pw, role) in USERS.items())
    auth = AuthConfig.from_env(spec, CODE, oauth=False)
    ctx = make_context(default_model="tiny")
    demo = build_app(ctx, auth)
    yield {"url": serve_local(demo, auth=auth).rstrip("/"), "ctx": ctx, "demo": demo}
    demo.close()
    ctx.jobs.close()
    if old is None:
        os.environ.pop("PLAYGROUND_HOME", None)
    else:
        os.environ["PLAYGROUND_HOME"] = old


def _client(url: str, user: str | None, password: str | None) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=30)
    if user is not None:
        r = c.post("/login", data={"username": user, "password": password})
        assert r.status_code == 200, r.text
    return c


def call_fn(c: httpx.Client, fn_index: int, data: list[Any], wait_s: float = 8.0, event_data: Any = None
            ) -> tuple[str, str]:
    """('http', status) when the queue refuses the call, ('ok', '') / ('error', message) when it ran,
    ('running', '') when it was still going after wait_s (it passed the role check)."""
    session = uuid.uuid4().hex[:10]
    r = c.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index,
                                                "session_hash": session, "event_data": event_data, "trigger_id": None})
    if r.status_code != 200:
        return "http", str(r.status_code)
    t0 = time.time()
    with c.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}, timeout=wait_s + 10) as s:
        for line in s.iter_lines():
            if time.time() - t0 > wait_s:
                return "running", ""
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("msg") == "process_completed":
                if msg.get("success"):
                    return "ok", ""
                return "error", str((msg.get("output") or {}).get("error") or "")
    return "running", ""


def _deps(c: httpx.Client) -> list[dict[str, Any]]:
    """Server functions, each with `data`: the values its input components show on a fresh page (what a browser
    would send), so a call gets past Gradio's input checks and reaches the handler's role check."""
    r = c.get("/config")
    assert r.status_code == 200
    cfg = r.json()
    values = {comp["id"]: (comp.get("props") or {}).get("value") for comp in cfg["components"]}
    deps = [d for d in cfg["dependencies"] if d.get("backend_fn")]
    for d in deps:
        d["data"] = [values.get(i) for i in d["inputs"]]
        d["event"] = {"index": [0, 0], "value": "", "selected": True} if d.get("collects_event_data") else None
    return deps


def _walk(c: httpx.Client, deps: list[dict[str, Any]]) -> dict[int, tuple[str, str]]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        out = dict(zip([d["id"] for d in deps], pool.map(lambda d: call_fn(c, d["id"], d["data"], 8.0, d["event"]),
                                                         deps)))
    for d in deps:  # still queued behind others after 8 s: ask again alone, with time to be answered
        if out[d["id"]][0] == "running":
            out[d["id"]] = call_fn(c, d["id"], d["data"], 60.0, d["event"])
    return out


REFUSAL = "role; you are"


def test_anonymous_gets_nothing(secured: dict[str, Any]) -> None:
    anon = _client(secured["url"], None, None)
    assert anon.get("/config").status_code == 401
    n = len(secured["ctx"].roles)
    assert n > 50  # every tab's handlers are in the table
    successes = [i for i in range(n) if call_fn(anon, i, [None])[0] != "http"]
    assert successes == [], f"anonymous calls that reached a handler: {successes}"


@pytest.mark.parametrize("user", ["watcher", "annotator-by-code"])
def test_every_fn_index_is_refused_or_allowed_as_its_role_says(secured: dict[str, Any], user: str) -> None:
    """Admin handlers (train, delete, push...) are really called only by the lower roles, which must be refused;
    the admin's own walk is the app_server tests of every tab (auth off = admin)."""
    if user == "annotator-by-code":
        c, role = _client(secured["url"], "ana", CODE), Role.ANNOTATOR
    else:
        c, role = _client(secured["url"], user, USERS[user][0]), USERS[user][1]
    roles: dict[int, Role] = secured["ctx"].roles
    deps = _deps(c)
    assert {d["id"] for d in deps} == set(roles), "every server function has a role"
    wrong = []
    results = _walk(c, deps)
    for d in deps:
        kind, message = results[d["id"]]
        refused = kind == "error" and REFUSAL in message
        if refused != (roles[d["id"]] > role):
            wrong.append((d["id"], d.get("api_name"), roles[d["id"]].name, kind, message[:80]))
    assert wrong == [], f"{user}: calls refused/allowed against the role table: {wrong}"


def _fn_indices(secured: dict[str, Any], *names: str) -> list[int]:
    demo = secured["demo"]
    return [i for i, bf in demo.fns.items() if bf.fn is not None and bf.fn.__name__ in names]


def test_roles_of_key_actions(secured: dict[str, Any]) -> None:
    roles: dict[int, Role] = secured["ctx"].roles
    assert sum(r is Role.VIEWER for r in roles.values()) >= 5  # dashboards, ticks, page loads
    assert sum(r is Role.ANNOTATOR for r in roles.values()) >= 3  # vote, skip, generate ...
    stops = _fn_indices(secured, "on_stop", "stop")
    assert stops and all(roles[i] is Role.ADMIN for i in stops)


def test_annotator_cannot_delete_a_dataset_or_stop_a_job(secured: dict[str, Any]) -> None:
    ctx = secured["ctx"]
    ctx.ws.create_dataset("precious")
    ctx.ws.add_rows("precious", [{"messages": [{"role": "user", "content": "hi"},
                                               {"role": "assistant", "content": "hello"}]}])
    c = _client(secured["url"], "mallory", CODE)
    deps = {d["id"]: d for d in _deps(c)}
    attacks = [i for i, bf in secured["demo"].fns.items()
               if bf.fn is not None and any(w in bf.fn.__name__ for w in ("delete", "stop", "remove"))]
    assert attacks
    for i in attacks:
        kind, message = call_fn(c, i, deps[i]["data"], 30.0, deps[i]["event"])
        assert kind == "error" and "needs the admin role" in message, (i, kind, message)
    assert ctx.ws.has_dataset("precious") and len(ctx.ws.rows("precious")) == 1


def test_login_with_wrong_code_is_refused(secured: dict[str, Any]) -> None:
    c = httpx.Client(base_url=secured["url"], timeout=30)
    r = c.post("/login", data={"username": "eve", "password": "room-41"})
    assert r.status_code in (400, 401)
    assert c.get("/config").status_code == 401



def test_two_apps_in_one_process_keep_their_own_policies(secured: dict[str, Any]) -> None:
    """An open app built after the secured one (auth off: the one local admin) stays open, and the secured one stays
    secured: each built app carries its own policy (a process-wide one would let the last install decide for both)."""
    import gradio as gr
    from gradio_client import Client

    from playground.core.jobs import JobRunner
    from playground.ui import guard
    from playground.ui.context import AppContext
    from playground.ui.tabs import dataset

    ctx = AppContext(ws=secured["ctx"].ws, jobs=JobRunner(secured["ctx"].ws), default_model="tiny")
    with gr.Blocks() as open_demo:
        dataset.build(ctx)
    guard.install(open_demo, AuthConfig())  # built and installed last
    open_demo.queue().launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        Client(open_demo.local_url, verbose=False).predict("two-apps-open", api_name="/datasets_create")
        assert secured["ctx"].ws.has_dataset("two-apps-open")  # admin action, auth off: allowed
        c = _client(secured["url"], "mallory2", CODE)
        deps = {d["id"]: d for d in _deps(c)}
        create = [i for i, bf in secured["demo"].fns.items() if bf.api_name == "datasets_create"]
        kind, message = call_fn(c, create[0], ["two-apps-secured"], 30.0, deps[create[0]]["event"])
        assert kind == "error" and "needs the admin role" in message
        assert not secured["ctx"].ws.has_dataset("two-apps-secured")
    finally:
        open_demo.close()
        ctx.jobs.close()
