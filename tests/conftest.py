"""Shared fixtures: a temporary PLAYGROUND_HOME per test, one converted-model cache for the session, no hub.

Servers and browsers (use these; do not start your own):
- `app_server`: the full app, launched once in this process for the session (tiny model) -> {"url", "ctx", "home"}.
- `spawn_app(home, *args, env=...)`: `python app.py` as a subprocess on a free port, waited for, stopped at the end
  of the test -> an `AppProcess` (`.url`, `.port`, `.proc`, `.stop()`). For a server that must be its own process
  (restart, sign-in flags, a script that builds its own Blocks: `spawn_app(home, script=SOURCE)`).
- `chromium`: ONE headless Debian chromium (playwright `Browser`) for the whole session. Tests get isolation from
  a fresh context: `browser_context` (1400x1000, 60 s timeouts) or `chromium.new_context(viewport=...)`.
- `app_page`: ONE page of the shared app per test module, opened (title shown) before the module's first test and
  kept for its tests: for tests that each do something on an open page and read what it shows. A page load costs
  7-20 s on 2 cores; a test that needs the page opened after something happened takes `browser_page` instead.
- `browser_page`: a fresh page in a fresh context; the usual fixture for a browser test:

      pytestmark = [pytest.mark.browser]
      def test_x(app_server, browser_page):
          browser_page.goto(app_server["url"])

  Never call `sync_playwright()` in a test: the session's playwright owns this thread's event loop, and a second
  one fails. For the same reason no test calls asyncio.run() (use `run_coroutine`): in one process the browser tests
  run last, and under xdist too, but a worker may still be handed other tests after its first browser test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the suite on several pytest-xdist workers (most of the wall time is waiting on servers and
    # browsers); each worker, and every process it starts, keeps to one maths thread so they do not fight for cores
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"
    import torch as _torch

    _torch.set_num_threads(1)
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
NEEDS_CHROMIUM = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("PLAYGROUND_HOME", str(h))
    return h


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory):
    """The full app, launched once for the session on a free port, default model 'tiny'."""
    h = tmp_path_factory.mktemp("apphome")
    old = os.environ.get("PLAYGROUND_HOME")
    os.environ["PLAYGROUND_HOME"] = str(h)
    from playground.ui.app import build_app, make_context, serve_local

    ctx = make_context(default_model="tiny")
    demo = build_app(ctx)
    yield {"url": serve_local(demo), "ctx": ctx, "home": h}
    demo.close()
    ctx.jobs.close()
    if old is None:
        os.environ.pop("PLAYGROUND_HOME", None)
    else:
        os.environ["PLAYGROUND_HOME"] = old


def _in_browser(item: pytest.Item) -> bool:
    return "chromium" in getattr(item, "fixturenames", ()) or item.get_closest_marker("browser") is not None


def run_coroutine(coro):  # noqa: ANN001, ANN201
    """asyncio.run(coro) in a thread of its own: once the session's chromium started, its playwright keeps an asyncio
    loop marked running in this thread until the session ends, and asyncio.run() here would fail."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In one process, the tests that use the session's chromium run last (a test that calls asyncio.run() itself
    would fail after it started: use run_coroutine)."""
    items.sort(key=_in_browser)  # stable: each file keeps its order


# `make test` (`-n 3 --dist loadgroup`) spreads the tests over three workers one by one, the browser tests last (the
# sort above runs on each worker). xdist's `xdist_group` marker does nothing with pytest 9.2 (xdist 3.8 appends
# "@group" to `item._nodeid`, pytest 9.2 derives `nodeid` from `item._id`), and the schedules that keep Chromium
# to one unit were slower from a clean clone on this 2-core machine: one browser unit on one worker 24.0-25.2 min,
# two units (a Chromium per worker) 25.7 min, spread one by one on 2 workers 21.6 min. Two workers left the 2 cores
# half idle (they wait on servers and page loads): 3 workers took 18.7 min (617 passed); 4 were slower still
# (24.6 min) with 3 timing failures from the load (test_browser_quiet x2, a narrow-window layout test). At 3
# workers both cores are 96-100% busy from start to end (/proc/stat every 15 s): the suite is CPU-bound, about half
# of it Chromium running Gradio's front end. One page-load event instead of 16 and tab clicks kept in the page
# (ui/app.py) took it from 19.2 to 13.8 and 14.2 min (619 passed).


@pytest.fixture(scope="session")
def chromium():  # noqa: ANN201
    """One headless Debian chromium for the session (a playwright `Browser`); give each test its own context."""
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium):  # noqa: ANN001, ANN201
    """A fresh context (own cookies, localStorage, cache) in the session's chromium: 1400x1000, 60 s timeouts."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    yield context
    context.close()


def visible(locator):  # noqa: ANN001, ANN201
    """The first of a playwright `locator`'s matches that is on screen: on a page that stays open (`app_page`) the
    tabs visited before stay in it, hidden, with their own fields of the same label."""
    return locator.locator("visible=true").first


def wait_loaded(page, timeout: float = 120_000) -> None:  # noqa: ANN001
    """Until the page's load event has filled every tab (app.PAGE_LOADED_JS marks the body): a loaded machine can
    take many seconds, and a click before then may land on a tab that is redrawn under it."""
    page.wait_for_function("() => document.body && document.body.dataset.pgLoaded === '1'", timeout=timeout,
                           polling=200)


@pytest.fixture(scope="module")
def app_page(chromium, app_server):  # noqa: ANN001, ANN201
    """The shared app open in one page for the module's tests (a context of its own, 1400x1000, 60 s timeouts)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(app_server["url"])
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)
    yield page
    context.close()


@pytest.fixture
def browser_page(browser_context):  # noqa: ANN001, ANN201
    """A fresh page in a fresh context; navigate it yourself (`browser_page.goto(app_server["url"])`)."""
    return browser_context.new_page()


@dataclass
class AppProcess:
    """An app server in its own process (see `spawn_app`)."""

    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self, sig_kill: bool = False) -> None:
        """End it and what it started (its own process group; SIGKILL with sig_kill=True: a crash), and wait."""
        for sig in ((signal.SIGKILL,) if sig_kill else (signal.SIGTERM, signal.SIGKILL)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=30)
                return
            except subprocess.TimeoutExpired:
                continue


def wait_http(url: str, proc: subprocess.Popen, log: Path | None = None, timeout: float = 180) -> None:
    """Until `url` answers; fails at once (with the server's log tail) if the process exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"the app exited with {proc.returncode} before it served\n{tail}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the app did not answer at {url} within {timeout:.0f} s")


@pytest.fixture
def spawn_app(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """spawn_app(home, *args, env=None, script=None, wait=True) -> AppProcess: `python app.py --port P *args` (or
    `python -c script *args`, which serves on $PLAYGROUND_TEST_PORT until terminated) with PLAYGROUND_HOME=home, in
    its own process group, output in a log file (AppProcess.log); whatever it started is stopped when the test ends."""
    started: list[AppProcess] = []
    logs = tmp_path_factory.mktemp("spawn_app")

    def spawn(home: Path, *args: str, env: dict[str, str] | None = None, script: str | None = None,
              wait: bool = True) -> AppProcess:
        port = free_port()
        full_env = dict(os.environ, PLAYGROUND_HOME=str(home), PLAYGROUND_TEST_PORT=str(port), **(env or {}))
        cmd = ([sys.executable, "-c", script, *args] if script is not None
               else [sys.executable, str(REPO / "app.py"), "--port", str(port), *args])
        log = logs / f"app-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        app = AppProcess(proc, port, log)
        started.append(app)
        if wait:
            wait_http(app.url, proc, log)
        return app

    yield spawn
    for app in started:
        app.stop()
