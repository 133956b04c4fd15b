"""The GPU check and the device-aware defaults, exercised on CPU.

    .venv/bin/python -m pytest -q tests/test_gpu_check.py            # the fast part (numbers in, decisions out)
    .venv/bin/python -m pytest -q -m slow tests/test_gpu_check.py    # + the CPU rehearsal of every GPU step

Every decision the GPU path makes (the header's memory line, the engine's batch, the batch a card fits, the
out-of-memory line) is a function of the numbers torch reports, so these tests feed it an H200's numbers. The
rehearsal runs `scripts/gpu_check.sh --cpu` (and `--cpu --qlora`): the same steps, commands and parsing as on the
GPU, at tiny sizes, so the one short GPU call cannot rot between the times a machine is lent.
"""

from __future__ import annotations

import json
import re
import subprocess
import types
from pathlib import Path

import pytest

from playground.core import models

REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3
SMOLLM2_1_7B = types.SimpleNamespace(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
                                     num_attention_heads=32, num_key_value_heads=32, vocab_size=49152)
SMOLLM2_135M = types.SimpleNamespace(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                     num_attention_heads=9, num_key_value_heads=3, vocab_size=49152)


def test_header_line_shows_the_gpu_and_its_memory_in_use() -> None:
    line = models.device_label("NVIDIA H200", (99 * GIB, 140 * GIB))
    assert line == "CUDA: NVIDIA H200 (bf16) · 41.0 / 140 GiB used"
    assert models.device_label("Tesla T4", None, bf16=False) == "CUDA: Tesla T4 (fp16)"
    if models.cuda_memory() is None:  # this machine: the header says CPU, and reads no GPU
        assert models.device_label() == "CPU (fp32)"


def test_engine_batch_grows_with_the_free_memory_and_is_capped() -> None:
    per_token = models.kv_bytes_per_token(SMOLLM2_135M)
    assert per_token == 2 * 30 * 3 * 64 * 2  # K and V, 30 layers, 3 KV heads of 64, bf16
    assert models.engine_batch(SMOLLM2_135M, 1 * GIB) == int(GIB * models.HEADROOM / 2 // (per_token * 1024))
    assert models.engine_batch(SMOLLM2_135M, 100 * GIB) == 256  # capped: one step's sampling is per row
    assert models.engine_batch(SMOLLM2_1_7B, 64 * 1024**2) == 1  # never zero


def test_engine_takes_the_gpu_batch_only_with_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from playground.core import engine
    from playground.core.generation import load_model

    model, _tok = load_model("tiny", "", "cpu")
    monkeypatch.delenv("PLAYGROUND_ENGINE_BATCH", raising=False)
    assert engine.default_max_batch(model, None) == engine.MAX_BATCH  # CPU: the measured default
    assert engine.default_max_batch(model, 80 * GIB) == 256
    monkeypatch.setenv("PLAYGROUND_ENGINE_BATCH", "12")  # the operator's setting wins
    assert engine.default_max_batch(model, 80 * GIB) == engine.MAX_BATCH


def test_training_batch_estimate() -> None:
    n = 1_711_000_000
    lora = models.train_batch_fits(SMOLLM2_1_7B, n, 512, 130 * GIB, lora=True)
    full = models.train_batch_fits(SMOLLM2_1_7B, n, 512, 130 * GIB, lora=False)
    assert lora > full > 0  # a full fine-tune keeps 16 more bytes a weight
    assert models.train_batch_fits(SMOLLM2_1_7B, n, 512, 4 * GIB, lora=False) == 0  # 27 GB of state: nothing fits
    assert models.train_batch_fits(SMOLLM2_1_7B, n, 256, 130 * GIB) > lora  # shorter rows, more of them


def test_oom_hint_names_the_setting_to_lower() -> None:
    from playground.stages.registry import load_config

    sft = load_config("sft", str(REPO / "presets/sft/tiny-cpu.yaml"))
    line = models.oom_hint("sft", sft, 3 * GIB)
    assert line.startswith("CUDA out of memory (3.0 GiB free now): lower per_device_train_batch_size (now 8;")
    assert "max_length (now 128)" in line and "\n" not in line
    assert "use_lora" not in line
    full = load_config("sft", str(REPO / "presets/sft/tiny-cpu.yaml"), ["use_lora=false"])
    assert "or use_lora: true" in models.oom_hint("sft", full)
    ppo = load_config("ppo", str(REPO / "presets/ppo/tiny-cpu.yaml"))
    line = models.oom_hint("ppo", ppo)
    assert "per_device_train_batch_size (now 16;" in line and "rollout_batch_size (now 64)" in line


def test_cuda_oom_is_one_line_and_keeps_the_checkpoint(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    """A trainer that saved checkpoint-2 and then ran out of GPU memory: rc 1, one error line naming the setting,
    the run marked failed with what it kept, the checkpoint still there."""
    import torch

    import playground.cli as cli

    def run(cfg, run_dir) -> None:  # noqa: ANN001
        (Path(run_dir) / "checkpoints" / "checkpoint-2").mkdir(parents=True)
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 139.8 GiB total)")

    monkeypatch.setattr(cli, "trainer", lambda stage: types.SimpleNamespace(run=run))
    run_dir = home / "runs" / "oom"
    rc = cli.run_stage("sft", str(REPO / "presets/sft/tiny-cpu.yaml"), ["per_device_train_batch_size=16"],
                       str(run_dir))
    assert rc == 1
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert len(err) == 1 and "lower per_device_train_batch_size (now 16;" in err[0]
    assert "kept checkpoint-2 (resume_from_checkpoint: last)" in err[0]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "failed" and status["error"] == err[0][len("error: "):]
    assert status["kept"].startswith("checkpoint-2")
    assert (run_dir / "checkpoints" / "checkpoint-2").is_dir()


def test_other_errors_still_take_the_generic_path(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    import playground.cli as cli

    def run(cfg, run_dir) -> None:  # noqa: ANN001
        raise RuntimeError("something else")

    monkeypatch.setattr(cli, "trainer", lambda stage: types.SimpleNamespace(run=run))
    assert cli.run_stage("sft", str(REPO / "presets/sft/tiny-cpu.yaml"), [], str(home / "runs" / "x")) == 1
    assert "error: RuntimeError: something else" in capsys.readouterr().err


# -- the rehearsal ---------------------------------------------------------------------------------------------
ROW = re.compile(r"^\| (\S+)\s+\| (\S+)\s+\| (\S+)\s+\| (.+?)\s+\| (.+?)\s+\| (.*) \|$")


def _rehearse(tmp_path: Path, *flags: str) -> tuple[str, dict[str, tuple[str, ...]], Path]:
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(REPO / "scripts/gpu_check.sh"), "--cpu", *flags, "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    text = proc.stdout + proc.stderr
    rows = {m.group(1): m.groups()[1:] for m in map(ROW.match, proc.stdout.splitlines()) if m}
    assert proc.returncode == 0, text[-4000:]
    return proc.stdout, rows, out


@pytest.mark.slow
def test_cpu_rehearsal_runs_every_step(tmp_path: Path) -> None:
    stdout, rows, out = _rehearse(tmp_path)
    last = stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"gpu_check: (\d+) of (\d+) steps ok", last)
    assert m and m.group(1) == m.group(2), stdout[-3000:]
    expected = ["build-models", "sft", "sft-trl", "ppo", "reward", "ppo-rm", "dpo", "sft-auto", "ppo-1.7b", "engine"]
    for name in expected:
        assert rows[name][0] == "0", (name, rows[name])
    assert int(m.group(2)) == len(expected) + sum(rows.get(s, ("skip",))[0] != "skip" for s in ("grpo", "rloo"))
    for stage in ("grpo", "rloo"):  # run when the stage's preset exists, else said plainly
        present = (REPO / "presets" / stage / "tiny-cpu.yaml").is_file()
        assert rows[stage][0] == ("0" if present else "skip"), rows[stage]
        if not present:
            assert "not present" in rows[stage][4]
    assert rows["sft"][2].endswith("tok/s") and rows["sft-trl"][2].endswith("tok/s")
    assert rows["ppo"][2].endswith("s/update") and rows["ppo-1.7b"][2].endswith("s/update")
    assert "pairs/s" in rows["engine"][2] and "GiB" in rows["sft"][3]
    assert re.search(r"SFT tok/s ours / plain TRL = \d+\.\d\d", stdout)
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.log", "gpu_check.txt"]
    steps = {s["name"]: s for s in json.loads((out / "gpu_check.json").read_text())["steps"]}
    # the GPU preset's `auto:8` with accumulation 2: on CPU the preset's numbers (on a GPU: the card's split, run.py)
    assert rows["sft-auto"][4].startswith("auto:8 x 2 -> 8 x 2"), rows["sft-auto"]
    assert steps["sft-auto"]["auto_batch"] * steps["sft-auto"]["auto_accumulation"] == 16
    assert steps["engine"]["engine_pairs_per_s"] > 0 and steps["engine"]["per_request_pairs_per_s"] > 0
    assert steps["ppo-rm"]["s_per_update"] > 0  # PPO really ran against the reward model it had just trained


@pytest.mark.slow
def test_cpu_rehearsal_of_the_qlora_command(tmp_path: Path) -> None:
    stdout, rows, out = _rehearse(tmp_path, "--qlora")
    assert stdout.strip().splitlines()[-1] == "gpu_check: 3 of 3 steps ok"
    for name in ("sft-qlora-135m", "sft-qlora-1.7b"):
        assert rows[name][0] == "0" and "refused on CPU in one line" in rows[name][4]
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check_qlora.json", "gpu_check_qlora.log",
                                                     "gpu_check_qlora.txt"]
