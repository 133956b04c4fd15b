"""RLOO on the tiny model: the same contract as GRPO (tests/test_grpo.py's checks, run for the rloo stage)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_grpo import BAD, bad_config_is_one_line, reward_rises, stop_then_resume, trains_and_logs

STAGE = "rloo"


def test_rloo_trains_logs_reward_kl_and_samples(home: Path) -> None:
    trains_and_logs(STAGE, home)


@pytest.mark.slow
def test_rloo_stop_keeps_the_last_step_and_resume_continues(home: Path) -> None:
    stop_then_resume(STAGE, home)


@pytest.mark.slow
def test_rloo_reward_rises_on_the_tiny_rule(home: Path) -> None:
    reward_rises(STAGE, home)


@pytest.mark.parametrize("override,expected", BAD)
def test_rloo_bad_config_is_one_line(override: str, expected: str, home: Path) -> None:
    bad_config_is_one_line(STAGE, override, expected, home)
