"""DPO services the Reward tab's DPO section, the CLI and the tests call: the SFT run a DPO run starts from, the
preset's choices, and the policy's log-ratio margins (what DPO moved).

    adapter = sft_adapter("sft-20260101-120000-ab12")      # runs/<id>/adapter, or a DataError in one line
    logprob_margins(model, tok, rows)                       # per pair: log pi(chosen|x) - log pi(rejected|x)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playground.core.chat import as_messages
from playground.core.errors import DataError
from playground.core.runs import adapter_dir


def sft_adapter(sft_run: str) -> Path:
    """The LoRA adapter of a finished SFT run (run id, run folder or adapter folder)."""
    found = adapter_dir(sft_run) if sft_run.strip() else None
    if found is None or not (found / "adapter_config.json").is_file():
        raise DataError(f"sft_run '{sft_run}': no LoRA adapter found (is it a finished SFT run with use_lora on?)")
    return found


def logprob_margins(model: Any, tok: Any, rows: list[dict[str, Any]]) -> list[float]:
    """Per pair: log pi(chosen | prompt) - log pi(rejected | prompt), summed over the answer tokens.

    DPO pushes this up relative to the reference; comparing it before and after training shows what DPO did.
    """
    import torch

    device = next(model.parameters()).device

    def answer_logp(prompt: Any, answer: Any) -> float:
        prompt = as_messages(prompt)
        answer = [{"role": "assistant", "content": answer}] if isinstance(answer, str) else answer
        p_ids = tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
        f_ids = tok.apply_chat_template(prompt + answer, tokenize=True, return_dict=True)["input_ids"]
        ids = torch.tensor([f_ids], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].float()
        logp = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
        return float(logp[len(p_ids) - 1:].sum())

    was_training = model.training
    model.eval()
    out = [answer_logp(r["prompt"], r["chosen"]) - answer_logp(r["prompt"], r["rejected"]) for r in rows]
    model.train(was_training)
    return out


def load_policy(cfg: Any, spec: Any, adapter_in: Path | None) -> Any:
    """The causal LM a reference-based preference stage (DPO, KTO) trains: the base, or with `adapter_in` that SFT
    run's adapter on it, trained further (the TRL trainer adds a frozen copy of it as the "ref" adapter)."""
    from playground.core import models

    model = models.load_causal_lm(spec, cfg.device, cfg.trust_remote_code,
                                  attn_implementation=cfg.attn_implementation)
    if adapter_in is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_in), is_trainable=True)
    return model


def drop_ref_adapter(trainer: Any, out: Path) -> None:  # noqa: ARG001 - run_trl_stage's `save` hook
    """The frozen reference copy of the SFT adapter TRL saved beside the policy is not part of the result."""
    import shutil

    if (out / "ref").is_dir():
        shutil.rmtree(out / "ref")
