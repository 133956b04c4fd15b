"""Tokens never leak: every push path against a local stand-in for the Hub that refuses the token and echoes it
back in its error body. The token must appear nowhere afterwards: not in the message the user sees, not in the
workspace (database, run folders, logs), not in the process output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import REPO

FAKE = "hf_FakeTokenForTests0123456789abcdef"


class EchoingHub(BaseHTTPRequestHandler):
    """Answers every request 401 and echoes the Authorization header, as a careless proxy might."""

    def _refuse(self) -> None:
        body = json.dumps({"error": f"Invalid credentials in Authorization header: {self.headers.get('authorization')}"})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = do_PUT = do_HEAD = _refuse  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


SCRIPT = r"""
import json, sys
from playground.core.workspace import Workspace
from playground.stages.dataset import service as ds
from playground.stages.preferences import io as prefs_io
from playground.stages.sft import service as sft
from playground.core.errors import UserError

token, run_dir = sys.argv[1], sys.argv[2]
ws = Workspace()
ws.create_dataset("d")
ws.add_rows("d", [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}])
attempts = {
    "dataset push": lambda: ds.push(ws, "d", "me/set", token),
    "preferences push": lambda: prefs_io.push_to_hub([{"prompt": "p", "chosen": "a", "rejected": "b"}], "me/prefs", token),
    "adapter push": lambda: sft.push_run_folder(run_dir, "adapter", "me/lora", token),
    "preferences push without a token": lambda: prefs_io.push_to_hub([{"prompt": "p", "chosen": "a", "rejected": "b"}], "me/prefs", None),
}
out = {}
for name, fn in attempts.items():
    try:
        out[name] = "ok: " + str(fn())
    except UserError as e:
        out[name] = "refused: " + str(e)
print(json.dumps(out))
"""


@pytest.fixture
def hub_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_no_push_path_leaks_the_token(home: Path, hub_url: str, tmp_path: Path) -> None:
    run_dir = home / "runs" / "sft-x"
    (run_dir / "adapter").mkdir(parents=True)
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    env = {"PLAYGROUND_HOME": str(home), "HF_ENDPOINT": hub_url, "HF_HUB_OFFLINE": "0", "PATH": "/usr/bin:/bin",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", SCRIPT, FAKE, str(run_dir)], capture_output=True, text=True,
                       timeout=300, env=env, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(results) == {"dataset push", "preferences push", "adapter push", "preferences push without a token"}
    for name, message in results.items():
        assert message.startswith("refused: ") and "\n" not in message, (name, message)
    assert "token" in results["preferences push without a token"]  # never falls back to the server's own login
    # the stand-in really was reached and refused the token (not an offline short-cut)
    assert any("token was refused" in m or "401" in m for m in results.values()), results
    print(results)
    assert FAKE not in r.stdout and FAKE not in r.stderr
    leaked = [str(p) for p in home.rglob("*") if p.is_file() and FAKE.encode() in p.read_bytes()]
    assert leaked == []


def test_error_text_is_scrubbed_of_tokens() -> None:
    from playground.core import hub

    text = f"HTTP 500: upstream said Authorization: Bearer {FAKE} is odd; also hf_AnotherLookingToken99 there"
    msg = hub.message("push to", "me/x", hub.scrub(text, FAKE))
    assert FAKE not in msg and "hf_AnotherLookingToken99" not in msg and "me/x" in msg
