"""The app builds and serves: a gradio_client drives the SFT tab end to end against a launched server."""

from __future__ import annotations

import time

from gradio_client import Client

from playground.core.runs import read_metrics, read_status


def test_app_serves_and_trains_through_the_api(app_server) -> None:  # noqa: ANN001
    client = Client(app_server["url"], verbose=False)
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/sft_start" in api and "/sft_preset" in api
    values = client.predict("tiny-cpu", api_name="/sft_preset")
    values = list(values)
    # shorten the run: fields follow sft_tab.FIELDS
    from playground.ui.tabs.sft import FIELDS

    values[FIELDS.index("max_steps")] = 6
    values[FIELDS.index("eval_fraction")] = 0.0
    values[FIELDS.index("save_steps")] = 0
    out = client.predict(*values, api_name="/sft_start")
    assert "Started" in str(out)  # outputs: message, run picker (the followed run id is session state)
    run = app_server["ctx"].ws.runs("sft")[0]
    deadline = time.time() + 300
    while time.time() < deadline and read_status(run["run_dir"]).get("state") not in ("succeeded", "failed"):
        time.sleep(0.5)
    assert read_status(run["run_dir"])["state"] == "succeeded"
    assert len([m for m in read_metrics(run["run_dir"]) if "loss" in m]) == 6


def test_bad_form_value_is_a_message_not_a_traceback(app_server) -> None:  # noqa: ANN001
    from playground.ui.tabs.sft import FIELDS

    client = Client(app_server["url"], verbose=False)
    values = list(client.predict("tiny-cpu", api_name="/sft_preset"))
    values[FIELDS.index("learning_rate")] = -1
    before = len(app_server["ctx"].ws.runs("sft"))
    out = client.predict(*values, api_name="/sft_start")
    assert "learning_rate must be > 0" in str(out)
    assert len(app_server["ctx"].ws.runs("sft")) == before


def _tab(home, build):  # noqa: ANN001, ANN202
    """(ctx, the tab's components) of one tab built alone in a fresh workspace; its handlers are called directly."""
    import gradio as gr

    from playground.ui.app import make_context

    ctx = make_context(default_model="tiny")
    with gr.Blocks():
        tab = build(ctx)
    return ctx, tab


def test_sft_tab_handlers_name_the_components_they_fill(home) -> None:  # noqa: ANN001
    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config
    from playground.ui.tabs import sft

    ctx, t = _tab(home, sft.build)
    try:
        assert t.field("lr_scheduler_type").choices == [(c, c) for c in ("linear", "cosine", "constant",
                                                                         "constant_with_warmup")]
        run_dir = runs_dir() / "sft-a"
        cfg = load_config("sft", "presets/sft/tiny-cpu.yaml")
        save_config(cfg, run_dir / "config.yaml")
        (run_dir / "metrics.jsonl").write_text('{"step": 1, "time": 1.0, "loss": 2.5}\n')
        write_status(run_dir, state="succeeded")
        ctx.ws.register_run("sft-a", "sft", run_dir, to_dict(cfg))
        ctx.ws.add_rows("fresh", [{"messages": [{"role": "user", "content": "Hi"},
                                                {"role": "assistant", "content": "Hello."}]}], create=True)
        out = sft.on_refresh(ctx, t)
        assert set(out) == {t.panel.follow, t.table, t.cmp_a, t.cmp_b, t.try_run, t.field("dataset")}
        assert ("sft-a · succeeded", "sft-a") in out[t.try_run]["choices"]
        assert "fresh" in out[t.field("dataset")]["choices"] and list(out[t.table]["run"]) == ["sft-a"]
        assert "sft-a" in sft.on_compare(ctx, "sft-a", None, "loss")
        try:
            sft.on_try(ctx, t, "", "Hello")
        except Exception as e:  # noqa: BLE001 - gr.Error: one toast naming what to do
            assert "pick a finished SFT run" in str(e)
        else:
            raise AssertionError("trying with no run picked must be refused")
    finally:
        ctx.jobs.close()


def test_reward_tab_handlers_name_the_components_they_fill(home) -> None:  # noqa: ANN001
    import gradio as gr

    from playground.core.runs import write_status
    from playground.stages.data import VOTES_AND_BUILTIN
    from playground.ui.tabs import reward, reward_dpo

    ctx, t = _tab(home, reward.build)
    try:
        assert VOTES_AND_BUILTIN in [v for _, v in t.field("dataset").choices]
        assert [v for _, v in t.field("device").choices] == ["auto", "cpu", "cuda"]  # from the field's metadata
        out = reward.on_refresh(ctx, t)
        assert set(out) == {t.panel.follow, t.table, t.inspect.run, t.field("dataset"), t.inspect.source}
        run_dir = ctx.jobs.run_dir("reward-a")
        run_dir.mkdir(parents=True)
        write_status(run_dir, state="running", notes=["Data: 6 train / 2 eval pairs"])
        ctx.ws.register_run("reward-a", "reward", run_dir, {})
        assert reward.on_notes(ctx, t, "reward-a", "") == {t.notes_md: "Data: 6 train / 2 eval pairs",
                                                            t.shown_notes: "Data: 6 train / 2 eval pairs"}
        same = reward.on_notes(ctx, t, "reward-a", "Data: 6 train / 2 eval pairs")  # nothing new: both skipped
        assert set(same) == {t.notes_md, t.shown_notes} and all(v == gr.skip() for v in same.values())
        assert "train /" in reward_dpo.on_data("builtin:prefs", 0.2, 0)
    finally:
        ctx.jobs.close()


def test_launch_waits_for_a_slow_first_page() -> None:
    """Gradio's own start check gives up after one 3 s request; on a busy machine the first page can be later than
    that while the server is up. Inside patient_start_check the same check retries and the launch goes on."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from gradio import networking

    from playground.ui.app import patient_start_check

    heads: list[float] = []

    class SlowFirst(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802
            heads.append(time.monotonic())
            if len(heads) <= 2:
                time.sleep(3.5)  # the first two answers come later than Gradio's 3 s timeout
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowFirst)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        assert networking.url_ok(url) is False  # Gradio's check alone: the slow first answer fails the launch
        with patient_start_check(limit_s=10):
            assert networking.url_ok(url) is True
        assert len(heads) == 3
    finally:
        server.shutdown()
        server.server_close()


def test_page_load_is_one_event_whose_parts_fail_alone() -> None:
    """Every tab's page-load handler runs in one event (app.page_load); a part that fails leaves its own outputs
    as they were and the others still fill theirs; dict, tuple and single returns line up with their outputs."""
    import gradio as gr

    from playground.ui.app import page_load

    a, b, c, d = object(), object(), object(), object()

    def broken() -> str:
        raise RuntimeError("this tab's load failed")

    fn = page_load([(lambda: "one", [a]), (broken, [b]), (lambda: {d: 4}, [c, d]), (lambda: (5, 6), [a, b])])
    out = fn()
    assert out[0] == "one" and out[3] == 4 and out[4:] == [5, 6]
    assert all(isinstance(v, type(gr.skip())) for v in (out[1], out[2]))
