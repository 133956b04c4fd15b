"""One forward per preference pair: the prompt the two answers share is run once, not twice.

TRL's RewardTrainer scores a pair as two padded rows, prompt + chosen and prompt + rejected, so the prompt --
usually most of the tokens (a multi-turn conversation and a short final answer) -- goes through the model twice.
Here each pair is one row laid out as a small tree:

    [ shared prefix (p tokens) | rest of chosen | rest of rejected ]
      positions 0..p-1           p..len(c)-1      p..len(r)-1

with a 4-D attention mask in which every token sees the earlier tokens of its own branch only (the rejected
tokens do not see the chosen ones), and position ids that restart at p for the rejected branch. Each token then
gets exactly the hidden state it gets in its own separate row, so the rewards (the score head at each branch's
last token) and the Bradley-Terry loss are the same as TRL's up to float rounding (tests/test_reward_shared_prefix.py),
for len(c) + len(r) - p tokens per pair instead of 2 x max length.

The prefix is the longest common prefix of the two token lists (the chat template's prompt and the assistant
header, and more when the answers start alike), so nothing depends on how the dataset named its prompt.
`SharedPrefixRewardTrainer` is used when the model has a `score` head (every causal LM loaded with
AutoModelForSequenceClassification in the registry does); `RewardRun.shared_prefix: false` turns it off.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from trl import RewardTrainer


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def last_real(ids: list[int], pad: int) -> int:
    """Index of the last token that is not `pad` (0 when there is none), as the HF sequence-classification
    heads pool: `(arange * (ids != pad)).argmax()`."""
    for i in range(len(ids) - 1, -1, -1):
        if ids[i] != pad:
            return i
    return 0


class SharedPrefixCollator:
    """Batches {"chosen_ids", "rejected_ids"[, "margin"]} examples into tree rows (see the module docstring).

    Returns input_ids and position_ids (B, S), `tree_mask` (B, 1, S, S) bool (True: may attend), attention_mask
    (B, S) marking the real tokens (Trainer counts tokens from it), and the index of the chosen and the rejected
    answer's last token in each row."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows, spans = [], []
        for ex in examples:
            c, r = list(ex["chosen_ids"]), list(ex["rejected_ids"])
            p = common_prefix(c, r)
            rows.append(c + r[p:])
            spans.append((p, len(c), r))
        size = max(len(x) for x in rows)
        n = len(rows)
        ids = torch.full((n, size), self.pad_token_id, dtype=torch.long)
        pos = torch.zeros((n, size), dtype=torch.long)
        real = torch.zeros((n, size), dtype=torch.long)
        mask = torch.zeros((n, 1, size, size), dtype=torch.bool)
        chosen_last = torch.zeros(n, dtype=torch.long)
        rejected_last = torch.zeros(n, dtype=torch.long)
        ar = torch.arange(size)
        for i, (row, (p, lc, r)) in enumerate(zip(rows, spans)):
            total, lr = len(row), len(r)
            ids[i, :total] = torch.tensor(row, dtype=torch.long)
            real[i, :total] = 1
            pos[i, :lc] = torch.arange(lc)
            pos[i, lc:total] = torch.arange(p, lr)
            q, k = ar[:, None], ar[None, :]
            m = (k <= q) & (q < total) & (k < total)
            m &= ~((q >= lc) & (k >= p) & (k < lc))  # the rejected branch does not see the chosen one
            m |= torch.eye(size, dtype=torch.bool)  # padding rows attend to themselves: no all-masked NaN row
            mask[i, 0] = m
            # the reward is read where the model's own pooling reads it: the last token that is not the padding
            # id (chat templates end turns with it); a rejected index inside the prefix stays where it is
            c_at = last_real(row[:lc], self.pad_token_id)
            r_at = last_real(r, self.pad_token_id)
            chosen_last[i] = c_at
            rejected_last[i] = r_at if r_at < p else lc + r_at - p
        out = {"input_ids": ids, "position_ids": pos, "tree_mask": mask, "attention_mask": real,
               "chosen_last": chosen_last, "rejected_last": rejected_last}
        if "margin" in examples[0]:
            out["margin"] = torch.tensor([float(ex["margin"]) for ex in examples])
        return out


def _seqcls(model: nn.Module) -> nn.Module:
    """The transformers sequence-classification model inside a PEFT wrapper (LoRA layers live inside it)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def score_head(model: nn.Module) -> nn.Module | None:
    """The sequence-classification head (`score`) with its backbone beside it, or None (then TRL's layout)."""
    inner = _seqcls(model)
    head = getattr(inner, "score", None)
    backbone = getattr(inner, getattr(inner, "base_model_prefix", "") or "model", None)
    return head if isinstance(head, nn.Module) and isinstance(backbone, nn.Module) else None


def tree_rewards(model: nn.Module, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(rewards of the chosen answers, rewards of the rejected answers), one forward over the tree rows: the
    backbone over every token, the head only at the two positions per row it is read at."""
    inner = _seqcls(model)
    backbone = getattr(inner, inner.base_model_prefix)
    # additive form (0 where a token may attend, the dtype's minimum elsewhere): sdpa takes either, eager only adds
    # the mask to the scores, so a bool mask there would add 1 instead of masking
    allowed = inputs["tree_mask"]
    mask = torch.zeros(allowed.shape, dtype=inner.dtype, device=allowed.device)
    mask.masked_fill_(~allowed, torch.finfo(inner.dtype).min)
    hidden = backbone(input_ids=inputs["input_ids"], attention_mask=mask,
                      position_ids=inputs["position_ids"], use_cache=False).last_hidden_state
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    picked = torch.cat([hidden[rows, inputs["chosen_last"]], hidden[rows, inputs["rejected_last"]]])
    rewards = inner.score(picked).squeeze(-1).float()
    return rewards[: len(rows)], rewards[len(rows):]


class SharedPrefixRewardTrainer(RewardTrainer):
    """RewardTrainer whose batches are tree rows: same loss and logged metrics, the shared prompt run once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        tok = kwargs.get("processing_class")
        kwargs.setdefault("data_collator", SharedPrefixCollator(tok.pad_token_id))
        super().__init__(*args, **kwargs)

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            self._signature_columns = ["chosen_ids", "rejected_ids", "margin"]

    def compute_loss(self, model: nn.Module, inputs: dict[str, torch.Tensor], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        from transformers.modeling_outputs import SequenceClassifierOutput

        mode = "train" if self.model.training else "eval"
        rewards_chosen, rewards_rejected = tree_rewards(model, inputs)
        diff = rewards_chosen - rewards_rejected
        if "margin" in inputs:
            diff = diff - inputs["margin"]
        loss = -nn.functional.logsigmoid(diff).mean()
        if self.args.center_rewards_coefficient is not None:
            loss += self.args.center_rewards_coefficient * torch.mean((rewards_chosen + rewards_rejected) ** 2)
        logits = torch.cat([rewards_chosen, rewards_rejected]).unsqueeze(-1)  # TRL's layout: chosen, then rejected

        if mode == "train":
            tokens = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
            self._total_train_tokens += tokens // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        with torch.no_grad():
            all_rewards = self.accelerator.gather(logits)
            self._metrics[mode]["min_reward"].append(all_rewards.min().item())
            self._metrics[mode]["mean_reward"].append(all_rewards.mean().item())
            self._metrics[mode]["max_reward"].append(all_rewards.max().item())
            acc = (rewards_chosen > rewards_rejected).float().mean()
            self._metrics[mode]["accuracy"].append(self.accelerator.gather_for_metrics(acc).mean().item())
            margin = (rewards_chosen - rewards_rejected).mean()
            self._metrics[mode]["margin"].append(self.accelerator.gather_for_metrics(margin).mean().item())
        outputs = SequenceClassifierOutput(loss=loss, logits=logits)
        return (loss, outputs) if return_outputs else loss
