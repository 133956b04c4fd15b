"""Pure tensor helpers for PPO on language models: masked statistics, KL estimators, GAE, clipped losses.

    from playground.stages.ppo import core
    adv, ret = core.gae(rewards, values, mask, gamma=1.0, lam=0.95)
    adv = core.masked_whiten(adv, mask)
    pg_loss, clipfrac, approx_kl = core.policy_loss(new_lp, old_lp, adv, mask, cliprange=0.2)

Every tensor is [batch, response_len]; `mask` is 1.0 on real response tokens (up to and including the
first EOS) and 0.0 on the padding after it. Nothing here touches a model, so each helper is unit-tested
against hand-computed numbers (tests/test_ppo.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _local(t: torch.Tensor) -> torch.Tensor:
    return t


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None,
                total: Callable[[torch.Tensor], torch.Tensor] = _local) -> torch.Tensor:
    """Mean of x over the positions where mask is 1 (all of them, or along `dim`).

    `total` sums a tensor over processes (an all-reduce) so that several ranks get the mean of all their
    positions; the default keeps it to this process."""
    if dim is None:
        return total((x * mask).sum()) / total(mask.sum()).clamp(min=1)
    return total((x * mask).sum(dim)) / total(mask.sum(dim)).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True,
               total: Callable[[torch.Tensor], torch.Tensor] = _local) -> torch.Tensor:
    mean = masked_mean(x, mask, total=total)
    var = masked_mean((x - mean) ** 2, mask, total=total)
    n = total(mask.sum())
    if unbiased and n > 1:
        var = var * n / (n - 1)  # Bessel: a mini-batch of a few tokens would otherwise look too calm
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True,
                  total: Callable[[torch.Tensor], torch.Tensor] = _local) -> torch.Tensor:
    """(x - mean) / std over the masked positions; padding positions come back as 0.

    shift_mean=False keeps the mean (used for rewards, whose sign carries meaning). `total` as in
    masked_mean: with an all-reduce, the statistics are those of every rank's positions."""
    mean, var = masked_mean(x, mask, total=total), masked_var(x, mask, total=total)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask


def response_mask(responses: torch.Tensor, eos_token_id: int | None) -> torch.Tensor:
    """1.0 on tokens up to and including the first EOS, 0.0 after it (generate pads finished rows with
    pad, which is often the EOS token itself, so `!= pad` cannot be used)."""
    if eos_token_id is None:
        return torch.ones_like(responses, dtype=torch.float32)
    is_eos = (responses == eos_token_id).int()
    # number of EOS strictly before each position; a token is real while no EOS came before it
    before = torch.cumsum(is_eos, dim=1) - is_eos
    return (before == 0).float()


def last_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token per row (where the sequence-level score is paid)."""
    return (mask.sum(1).long() - 1).clamp(min=0)


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[tokens] without materialising the full log-softmax twice."""
    picked = torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy H = logsumexp(z) - sum softmax(z) * z."""
    p = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (p * logits).sum(-1)


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from the sampled token's log-probs.

    k1 = log p - log q (unbiased, can be negative per token); k3 = (r - 1) - log r with r = q / p
    (unbiased, always >= 0, lower variance). See J. Schulman, "Approximating KL Divergence"."""
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r} (use k1 or k3)")


def rewards_with_kl(
    scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token reward r_t = -beta * KL_t, plus the sequence score on the last real token.

    Returns (rewards, non_score_reward), both [B, T] and zero on padding."""
    non_score = -kl_coef * kl * mask
    rewards = non_score.clone()
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last_index(mask)] += scores
    return rewards, non_score


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016), backwards over the response.

    delta_t = r_t + gamma * V_{t+1} - V_t;  A_t = delta_t + gamma * lam * A_{t+1};  returns = A + V.
    Past the last real token V and r are 0, so the value after the final token is 0 (episode ends)."""
    rewards = rewards * mask
    values = values * mask
    T = rewards.shape[1]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        next_v = values[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        last = delta + gamma * lam * last
        adv[:, t] = last
    adv = adv * mask
    return adv, (adv + values) * mask


def policy_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
    cliprange: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO clipped surrogate: mean over tokens of max(-A * rho, -A * clip(rho, 1-eps, 1+eps)).

    Returns (loss, clip fraction, approx KL = 0.5 * mean (log rho)^2)."""
    log_ratio = (logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    loss1 = -advantages * ratio
    loss2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(loss1, loss2), mask)
    with torch.no_grad():
        clipfrac = masked_mean((loss2 > loss1).float(), mask)
        approx_kl = 0.5 * masked_mean(log_ratio**2, mask)
    return loss, clipfrac, approx_kl


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange_value: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss 0.5 * mean max((V - R)^2, (clip(V, V_old +- eps) - R)^2). Returns (loss, clip fraction)."""
    clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    l1 = (values - returns) ** 2
    l2 = (clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(l1, l2), mask)
    with torch.no_grad():
        clipfrac = masked_mean((l2 > l1).float(), mask)
    return loss, clipfrac


class AdaptiveKLController:
    """Ziegler et al. (2019): beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon).

    Raises beta when the policy drifts past the target KL, lowers it when it stays close."""

    def __init__(self, init_kl_coef: float, target: float, horizon: int) -> None:
        self.value = float(init_kl_coef)
        self.target = float(target)
        self.horizon = max(1, int(horizon))

    def update(self, current_kl: float, n_steps: int) -> float:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
        return self.value


class FixedKLController:
    def __init__(self, kl_coef: float) -> None:
        self.value = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> float:  # noqa: ARG002 - same interface as adaptive
        return self.value
