"""Load check (moved out of `make test`): a workshop room of 20 annotators casting 50 votes each, 2,000 round trips.

    .venv/bin/python bench/vote_load.py                  # both rooms: open, then signed in (a few minutes each)
    .venv/bin/python bench/vote_load.py --room open --clients 20 --votes 50

The same checks as tests/test_arena_concurrency.py (open room) and tests/test_workshop_auth.py (sign-in with a room
code), which run them at 6 x 5 in the suite: every vote stored exactly once, under the signed-in name, agreement
statistics over every pair. The arena serves from its own process, as in a real room. Prints seconds and votes/s per
room; exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["PLAYGROUND_MAX_VOTES_PER_MIN"] = "0"  # storage under concurrency, not the per-person vote budget


def serve(script: str, home: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """The room's server process on a free port, once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PLAYGROUND_HOME=str(home), PLAYGROUND_TEST_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the {url} server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    sys.exit(f"the server did not answer at {url}")


def room(name: str, clients: int, votes: int) -> None:
    from playground.core.workspace import Workspace
    from tests import test_arena_concurrency as open_room
    from tests import test_workshop_auth as signed_in

    module, check, args = ((open_room, open_room.check_concurrent_votes, ()) if name == "open"
                           else (signed_in, signed_in.check_signed_in_votes, (signed_in.CODE,)))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PLAYGROUND_HOME"] = tmp
        proc, url = serve(module.SERVER, Path(tmp), *args)
        try:
            t0 = time.time()
            check(Workspace(), url, clients, votes)
            took = time.time() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{name} room: {clients} x {votes} = {clients * votes} votes stored exactly once in {took:.1f} s "
          f"({clients * votes / took:.1f} votes/s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--room", choices=["open", "signed-in", "both"], default="both")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--votes", type=int, default=50)
    a = ap.parse_args()
    for name in (["open", "signed-in"] if a.room == "both" else [a.room]):
        room(name, a.clients, a.votes)


if __name__ == "__main__":
    main()
