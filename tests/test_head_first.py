"""HeadFirst puts the page's head script before Gradio's bundle in every HTML page, and touches nothing else."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from playground.ui.widgets.live_page import PAGE_HEAD, HeadFirst

PAGE = '<!doctype html><html><head><script type="module" src="./assets/index.js"></script></head><body></body></html>'


def _client() -> TestClient:
    routes = [Route("/", lambda r: HTMLResponse(PAGE)),
              Route("/gradio_api/file=x.html", lambda r: HTMLResponse(PAGE)),
              Route("/config", lambda r: JSONResponse({"head": "<head>"}))]
    return TestClient(Starlette(routes=routes, middleware=[Middleware(HeadFirst)]))


def test_the_head_script_comes_before_the_bundle() -> None:
    r = _client().get("/")
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
    html = r.text
    assert html.startswith("<!doctype html><html><head>" + PAGE_HEAD)
    assert html.index("window.__pgRaf") < html.index('type="module"')


def test_other_responses_pass_untouched() -> None:
    c = _client()
    assert c.get("/gradio_api/file=x.html").text == PAGE  # a file a user downloads
    assert c.get("/config").json() == {"head": "<head>"}
    assert c.head("/").status_code in (200, 405)
