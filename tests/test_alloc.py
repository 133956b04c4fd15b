"""Training commands re-execute themselves once on tcmalloc where it is installed (core/alloc.py)."""

from __future__ import annotations

import pytest

from playground.core import alloc


class Execd(Exception):
    pass


@pytest.fixture
def execve(monkeypatch):
    """Captures the re-exec instead of replacing the test process."""
    calls = []

    def fake(path, argv, env):  # noqa: ANN001
        calls.append((path, argv, env))
        raise Execd

    monkeypatch.setattr(alloc.os, "execve", fake)
    monkeypatch.setattr(alloc, "find_tcmalloc", lambda: "/usr/lib/x/libtcmalloc_minimal.so.4")
    monkeypatch.setattr(alloc, "in_use", lambda: "glibc")
    monkeypatch.delenv(alloc.MARK, raising=False)
    monkeypatch.delenv("PLAYGROUND_ALLOCATOR", raising=False)
    monkeypatch.setenv("LD_PRELOAD", "")
    return calls


def test_a_training_command_reexecutes_once_with_tcmalloc(execve) -> None:  # noqa: ANN001
    with pytest.raises(Execd):
        alloc.reexec_with_allocator(["reward", "--config", "x.yaml"])
    (path, argv, env), = execve
    assert argv[1:] == ["-m", "playground", "reward", "--config", "x.yaml"]
    assert env["LD_PRELOAD"] == "/usr/lib/x/libtcmalloc_minimal.so.4" and env[alloc.MARK] == "1"


def test_no_reexec_for_other_commands_opt_out_or_second_time(execve, monkeypatch) -> None:  # noqa: ANN001
    alloc.reexec_with_allocator(["datasets", "list"])  # short commands keep glibc
    alloc.reexec_with_allocator([])
    monkeypatch.setenv("PLAYGROUND_ALLOCATOR", "glibc")
    alloc.reexec_with_allocator(["sft"])
    monkeypatch.delenv("PLAYGROUND_ALLOCATOR")
    monkeypatch.setenv(alloc.MARK, "1")  # already re-executed (the library failed to load): never loop
    alloc.reexec_with_allocator(["sft"])
    monkeypatch.delenv(alloc.MARK)
    monkeypatch.setattr(alloc, "find_tcmalloc", lambda: None)  # not installed: nothing changes
    alloc.reexec_with_allocator(["ppo"])
    assert execve == []


def test_every_training_stage_runs_on_the_allocator() -> None:
    """Each stage the CLI can train is re-executed on tcmalloc (a stage added later and not listed here kept glibc:
    GRPO's bundled-model job then peaked like a plain TRL script, bench/README.md "GRPO and RLOO")."""
    from playground.stages.registry import STAGES

    assert set(STAGES) <= set(alloc.TRAINING), sorted(set(STAGES) - set(alloc.TRAINING))


def test_in_use_reads_the_process_map() -> None:
    assert alloc.in_use() in ("glibc", "tcmalloc", "jemalloc")
