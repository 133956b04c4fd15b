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
