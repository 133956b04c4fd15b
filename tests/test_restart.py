"""Restart safety, as a Space or a laptop sees it: the app and its training job are killed mid-run (SIGKILL, as a
container stop does), and a new app starts on the same PLAYGROUND_HOME. Datasets, votes and finished runs are
intact; the killed run says it was interrupted and that Resume continues it; Resume works."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest


@pytest.mark.slow  # two app starts and a tiny training run: about a minute
def test_killed_mid_run_then_restarted_on_the_same_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        spawn_app) -> None:  # noqa: ANN001
    from gradio_client import Client

    from playground.core.runs import read_status
    from playground.core.workspace import Workspace
    from playground.stages.preferences import pairs as prefs

    home = tmp_path / "home"
    app = spawn_app(home, "--model", "tiny")
    try:
        monkeypatch.setenv("PLAYGROUND_HOME", str(home))
        ws = Workspace()
        ws.create_dataset("keep-me")
        ws.add_rows("keep-me", [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}])
        served = prefs.serve_pair("Say hi", ["hi", "hello"], [{"model": "tiny"}, {"model": "tiny"}], pool="room")
        prefs.record_vote(ws, served, "a", annotator="ana")
        client = Client(app.url, verbose=False)
        client.predict(api_name="/sft_start")  # the form as shown: the tiny-cpu preset (about 20 steps)
        run = ws.runs("sft")[0]
        deadline = time.time() + 240
        while not (Path(run["run_dir"]) / "metrics.jsonl").is_file():  # training has begun
            assert time.time() < deadline, read_status(run["run_dir"])
            time.sleep(0.5)
        job_pid = read_status(run["run_dir"])["pid"]
        for pid in (app.proc.pid, job_pid):  # the container stops: everything dies at once
            os.kill(pid, signal.SIGKILL)
        app.proc.wait(timeout=30)
    finally:
        app.stop(sig_kill=True)

    app2 = spawn_app(home, "--model", "tiny")
    try:
        status = read_status(run["run_dir"])
        assert status["state"] == "interrupted" and "Resume" in status["error"], status
        assert ws.has_dataset("keep-me") and len(ws.rows("keep-me")) == 1
        assert [(p["annotator"], p["choice"]) for p in ws.pairs("room", judged_only=True)] == [("ana", "a")]
        client = Client(app2.url, verbose=False)
        client.predict(run["id"], api_name="/sft_resume")
        deadline = time.time() + 400
        while read_status(run["run_dir"]).get("state") not in ("succeeded", "failed"):
            assert time.time() < deadline
            time.sleep(1)
        assert read_status(run["run_dir"])["state"] == "succeeded"
        steps = [json.loads(x)["step"] for x in (Path(run["run_dir"]) / "metrics.jsonl").read_text().splitlines()
                 if '"loss"' in x]
        assert len(steps) == len(set(steps))  # resumed or started over: no step logged twice
    finally:
        app2.stop(sig_kill=True)
