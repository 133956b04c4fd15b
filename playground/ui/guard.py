"""The server is the boundary: every event handler checks the caller's role here, before it runs.

Tabs mark a handler with the least role it needs; unmarked handlers need admin (a new handler is safe by
default):

    @needs(Role.ANNOTATOR)
    def on_vote(...): ...

`install(demo, auth)` wraps every function of the built Blocks (clicks, changes, timer ticks, page loads,
handlers hidden from the API page alike: a raw `fn_index` call reaches the wrapper too). The caller is read
from Gradio's request context: the name its login gave (`--auth`), or the Hugging Face account (OAuth).
`caller()` gives handlers that name for per-user things (whose vote, whose job, whose limits).

Destructive actions take a server-side confirmation token: the first click gets `issue_token(action, target)`
(kept in a gr.State and shown as "Confirm …"), the confirming handler calls `take_token` — a raw call
without a token issued to this session is refused.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import gradio as gr

from playground.core.auth import AuthConfig, Role
from playground.core.errors import AccessError, UserError

F = TypeVar("F", bound=Callable[..., Any])
ROLE_ATTR = "__playground_role__"


def needs(role: Role) -> Callable[[F], F]:
    """Mark the least role a handler needs (checked by the wrapper `install` puts around it)."""

    def mark(fn: F) -> F:
        setattr(fn, ROLE_ATTR, role)
        return fn

    return mark


def role_needed(fn: Callable[..., Any]) -> Role:
    return getattr(fn, ROLE_ATTR, Role.ADMIN)


@dataclass(frozen=True)
class Caller:
    name: str  # login name, HF username, or "" when anonymous / auth off
    role: Role
    session: str  # Gradio's session hash ("" outside a request)


_AUTH = AuthConfig()  # the last install()'s policy: a fallback for code running outside any app's request
AUTH_ATTR = "_playground_auth"  # each built app carries its own policy (tests run several apps in one process)


def auth_config() -> AuthConfig:
    """The policy of the app serving the current request (the last installed one outside a request)."""
    from gradio.context import LocalContext

    blocks = LocalContext.blocks.get(None)
    return getattr(blocks, AUTH_ATTR, None) or _AUTH


def _request() -> Any:
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


def _oauth_name(req: Any) -> str | None:
    try:
        info = req.request.session.get("oauth_info") or {}
    except (AttributeError, AssertionError):  # no session middleware: OAuth is not on
        return None
    return (info.get("userinfo") or {}).get("preferred_username")


def caller(auth: AuthConfig | None = None) -> Caller:
    """Who is calling the current handler, and with which role."""
    auth = auth or auth_config()
    req = _request()
    name = getattr(req, "username", None) or ""
    oauth = _oauth_name(req) if req is not None and auth.oauth else None
    session = getattr(req, "session_hash", None) or ""
    return Caller(name=name or oauth or "", role=auth.role_of(name or None, oauth), session=session)


def check(role: Role, what: str = "this") -> Caller:
    """Raise AccessError (one line) unless the caller has at least `role`."""
    c = caller()
    if c.role < role:
        who = f"signed in as {c.name} ({c.role.name.lower()})" if c.name else "not signed in"
        raise AccessError(f"{what} needs the {role.name.lower()} role; you are {who}.")
    return c


def _refuse(fn: Callable[..., Any], role: Role) -> None:
    name = fn.__name__.removeprefix("on_").replace("_", " ")
    try:
        check(role, f"'{name}'" if name != "<lambda>" else "this action")
    except AccessError as e:
        raise gr.Error(_localised(e), print_exception=False) from None


def guarded(fn: Callable[..., Any], role: Role) -> Callable[..., Any]:
    """`fn` with a role check before it runs (sync, async, generator or async generator alike)."""
    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def agen(*a: Any, **k: Any) -> Any:
            _refuse(fn, role)
            async for x in fn(*a, **k):
                yield x
        w: Callable[..., Any] = agen
    elif inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def coro(*a: Any, **k: Any) -> Any:
            _refuse(fn, role)
            return await fn(*a, **k)
        w = coro
    elif inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*a: Any, **k: Any) -> Any:
            _refuse(fn, role)
            yield from fn(*a, **k)
        w = gen
    else:
        @functools.wraps(fn)
        def sync(*a: Any, **k: Any) -> Any:
            _refuse(fn, role)
            return fn(*a, **k)
        w = sync
    setattr(w, ROLE_ATTR, role)
    w.__playground_guarded__ = True  # type: ignore[attr-defined]
    return w


def bind(fn: F, *bound: Any) -> F:
    """`fn` with its first arguments fixed (the context, a tab's components): what a tab wires as a handler. Keeps
    fn's name, role mark and kind (a generator stays one: Gradio streams it) and the signature of the arguments
    left (Gradio reads it for the inputs, gr.Progress, gr.SelectData)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def call(*a: Any, **k: Any) -> Any:
            yield from fn(*bound, *a, **k)
    else:
        @functools.wraps(fn)
        def call(*a: Any, **k: Any) -> Any:
            return fn(*bound, *a, **k)
    sig = inspect.signature(fn)
    call.__signature__ = sig.replace(parameters=list(sig.parameters.values())[len(bound):])  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]


def install(demo: gr.Blocks, auth: AuthConfig) -> dict[int, Role]:
    """Wrap every function of the built app with its role check; returns {fn_index: role} (for tests/docs)."""
    global _AUTH
    _AUTH = auth
    setattr(demo, AUTH_ATTR, auth)
    table: dict[int, Role] = {}
    for idx, bf in demo.fns.items():
        if bf.fn is None:  # a pure front-end (js-only) event runs nothing on the server
            continue
        if getattr(bf.fn, "__playground_guarded__", False):
            table[idx] = role_needed(bf.fn)
            continue
        role = role_needed(bf.fn)
        bf.fn = guarded(bf.fn, role)
        table[idx] = role
    return table


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Inside a handler: a UserError (bad input, refused request) becomes one toast, no traceback."""
    try:
        yield
    except UserError as e:
        raise gr.Error(_localised(e), print_exception=False) from None


LOCALISE: list[Callable[[Exception], str]] = []  # ui/i18n.py puts its message mapper here (it imports this module)


def _localised(e: Exception) -> str:
    """The refusal in the caller's language (ui/i18n.localise; English when no catalogue entry matches it)."""
    return LOCALISE[0](e) if LOCALISE else str(e)


# -- confirmation tokens for destructive actions ---------------------------------------------------------
_TOKENS: dict[str, tuple[str, str, str, float]] = {}  # token -> (session, action, target, expires)
_TOKENS_LOCK = threading.Lock()
TOKEN_TTL_S = 120.0


def issue_token(action: str, target: str) -> str:
    """A one-time token for `action` on `target`, valid for this session for two minutes."""
    session = caller().session
    tok = secrets.token_urlsafe(16)
    now = time.time()
    with _TOKENS_LOCK:
        for k in [k for k, v in _TOKENS.items() if v[3] < now]:
            del _TOKENS[k]
        _TOKENS[tok] = (session, action, target, now + TOKEN_TTL_S)
    return tok


def take_token(token: str | None, action: str, target: str) -> None:
    """Consume a token issued to this session for exactly this action and target; AccessError otherwise."""
    session = caller().session
    with _TOKENS_LOCK:
        entry = _TOKENS.pop(token or "", None)
    if entry is None or entry[3] < time.time():
        raise AccessError(f"{action} needs confirming first (press the button, then Confirm within 2 minutes).")
    if entry[:3] != (session, action, target):
        raise AccessError(f"that confirmation was for another {action}; press the button again.")
