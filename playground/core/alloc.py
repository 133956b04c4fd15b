"""Which malloc a training job runs on: tcmalloc where the system has it, else glibc with a pinned mmap threshold.

Why (bench/README.md, "Reward model"): left alone, glibc raises its mmap threshold to the size of every large
block freed, so the 4-20 MB activations of each forward/backward come from heap arenas that fragment and are
never given back (the bundled reward model peaks at ~3.2 GB RSS). Pinning the threshold (stages/trainer.
tune_malloc) cuts that to ~1.2 GB but makes every large tensor a fresh mmap, faulted in page by page: 0.6x the
speed on this CPU. tcmalloc (Debian's libtcmalloc-minimal4) keeps freed memory for reuse without fragmenting
like that: ~1.24 GB at glibc's speed.

The allocator has to be in place before the process starts (LD_PRELOAD), so `python -m playground <stage>`
re-executes itself once with it (`reexec_with_allocator`, the first thing `playground/__main__.py` does); the
app's jobs run that same command. `PLAYGROUND_ALLOCATOR=glibc` keeps glibc (and the pinned threshold in the
reward stage); without tcmalloc on the system nothing changes either.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# the commands that train (the rest are short and keep glibc); tests/test_alloc.py checks every stage in
# stages/registry.STAGES is here (GRPO/RLOO/KTO were missed once: their bundled-model jobs fragmented glibc's heap)
TRAINING = ("sft", "reward", "dpo", "kto", "ppo", "grpo", "rloo")
LIBS = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
            "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu")
MARK = "PLAYGROUND_ALLOCATOR_LOADED"  # set on the re-executed process: never re-execute twice


def find_tcmalloc() -> str | None:
    """The path of a tcmalloc shared library on this system, or None."""
    for d in LIB_DIRS:
        for name in LIBS:
            p = Path(d) / name
            if p.is_file():
                return str(p)
    return None


def in_use() -> str:
    """'tcmalloc', 'jemalloc' or 'glibc': which malloc this process runs on (from its memory map)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "glibc"
    for name in ("tcmalloc", "jemalloc"):
        if name in maps:
            return name
    return "glibc"


def wanted() -> bool:
    return os.environ.get("PLAYGROUND_ALLOCATOR", "auto").strip().lower() not in ("glibc", "system", "off", "0")


def reexec_with_allocator(argv: list[str]) -> None:
    """Replace this process by the same `python -m playground ...` command with tcmalloc preloaded, when the command
    trains, tcmalloc is installed and not loaded yet, and PLAYGROUND_ALLOCATOR does not say glibc. Same PID, so a
    job runner or a launcher watching it sees no difference."""
    if not sys.platform.startswith("linux") or not argv or argv[0] not in TRAINING:
        return
    if os.environ.get(MARK) or not wanted() or in_use() != "glibc":
        return
    lib = find_tcmalloc()
    if lib is None:
        return
    env = dict(os.environ)
    env[MARK] = "1"
    env["LD_PRELOAD"] = " ".join(x for x in (lib, env.get("LD_PRELOAD", "")) if x)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "playground", *argv], env)
