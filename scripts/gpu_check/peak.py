"""Run a module or script as if from the command line and write its peak memory to a JSON file at exit.

    python scripts/gpu_check/peak.py PEAK.json -m playground sft --config ...
    python scripts/gpu_check/peak.py PEAK.json scripts/gpu_check/trl_sft.py --model DIR ...

{"gpu_peak_bytes": torch.cuda.max_memory_allocated() (null when the run never touched CUDA), "rss_peak_bytes": the
process's peak resident memory}. The playground's allocator re-exec (core/alloc.py) is switched off here: it would
replace this process and its exit hook.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import runpy
import sys


def _write(path: str) -> None:
    gpu = None
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        gpu = int(torch.cuda.max_memory_allocated())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    with open(path, "w") as fh:
        json.dump({"gpu_peak_bytes": gpu, "rss_peak_bytes": rss}, fh)


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out, rest = sys.argv[1], sys.argv[2:]
    os.environ["PLAYGROUND_ALLOCATOR_LOADED"] = "1"  # core/alloc.py: never re-execute this process
    atexit.register(_write, out)
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        sys.path.insert(0, os.path.dirname(os.path.abspath(rest[0])))
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()
