#!/usr/bin/env bash
# Every stage of the playground on a CUDA GPU, in one short call; rehearsed on CPU so it cannot rot.
#
#   scripts/gpu_check.sh --prepare        # here, once: the cp312 wheels into .whl/, the bundled tokenizer into
#                                         # .gpu_check/ (both git-ignored; carried to the GPU machine)
#   scripts/gpu_check.sh [--out DIR]      # on the GPU machine: installs .whl/base, runs every stage (<= 8 min)
#   scripts/gpu_check.sh --qlora          # second command: QLoRA (installs .whl/qlora too: bitsandbytes, 43 MB)
#   scripts/gpu_check.sh --cpu [--qlora]  # the rehearsal: the same steps with tiny shapes on CPU (tests run it)
#
# The device tool's calls (64 MiB carried each):
#   run  carry=[".whl/base", ".gpu_check"]               command="bash scripts/gpu_check.sh"          timeout_s=540
#   run  carry=[".whl/base", ".whl/qlora", ".gpu_check"] command="bash scripts/gpu_check.sh --qlora"  timeout_s=420
# Logs go to $OUT (or --out DIR, default ./gpu_check_out): gpu_check.{txt,log,json} (gpu_check_qlora.* for
# --qlora). The last line is `gpu_check: K of N steps ok`; the exit status is 0 when every step that ran was ok.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

CPU=0 QLORA=0 PREPARE=0 OUTDIR="${OUT:-gpu_check_out}" EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) CPU=1 ;;
    --qlora) QLORA=1 ;;
    --prepare) PREPARE=1 ;;
    --out) OUTDIR="$2"; shift ;;
    --budget|--work) EXTRA+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi

# The pinned pure-python packages the GPU image lacks or has older (DESIGN.md, "Facts checked 2026-12-04"); its own
# torch, accelerate, tokenizers, huggingface_hub, pyarrow and pandas stay.
BASE_WHEELS=(transformers==5.23.0 trl==1.16.0 peft==0.21.2 datasets==5.2.0 "dill<0.4.2" "multiprocess<0.70.20")
QLORA_WHEELS=(bitsandbytes==0.50.2)
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform any)

if [ "$PREPARE" = 1 ]; then
  set -e
  for part in base qlora; do
    mkdir -p ".whl/$part"
    if [ "$part" = base ]; then wheels=("${BASE_WHEELS[@]}"); else wheels=("${QLORA_WHEELS[@]}"); fi
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      "${PLATFORMS[@]}" -d ".whl/$part" "${wheels[@]}"
  done
  mkdir -p .gpu_check/tokenizer
  "$PY" - <<'EOF'
import gzip, shutil
from pathlib import Path
from playground.core.models import tokenizer_dir
src, dst = tokenizer_dir(), Path(".gpu_check/tokenizer")
for f in src.iterdir():
    if f.name == "tokenizer.json":
        with open(f, "rb") as fin, gzip.open(dst / "tokenizer.json.gz", "wb") as fout:
            shutil.copyfileobj(fin, fout)
    elif f.is_file():
        shutil.copy2(f, dst / f.name)
EOF
  du -sh .whl/base .whl/qlora .gpu_check
  echo "gpu_check: prepared; carry .whl/base and .gpu_check (plus .whl/qlora for --qlora)"
  exit 0
fi

ARGS=(--out "$OUTDIR" "${EXTRA[@]}")
[ "$QLORA" = 1 ] && ARGS+=(--qlora)
if [ "$CPU" = 1 ]; then
  exec "$PY" scripts/gpu_check/run.py --cpu "${ARGS[@]}"
fi

# On the GPU machine: the carried wheels into a private site folder that shadows the image's older copies.
PARTS=(base)
[ "$QLORA" = 1 ] && PARTS+=(qlora)
for part in "${PARTS[@]}"; do
  if ! ls .whl/"$part"/*.whl >/dev/null 2>&1; then
    echo "gpu_check: no wheels in .whl/$part: run scripts/gpu_check.sh --prepare here and carry .whl/$part"
    echo "gpu_check: 0 of 1 steps ok"
    exit 1
  fi
done
SITE="${GPU_CHECK_SITE:-/tmp/gpu_check_site}"
WHEELS=()
for part in "${PARTS[@]}"; do WHEELS+=(.whl/"$part"/*.whl); done
if ! python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
     "${WHEELS[@]}"; then
  echo "gpu_check: installing the carried wheels failed"
  echo "gpu_check: 0 of 1 steps ok"
  exit 1
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec python3 scripts/gpu_check/run.py "${ARGS[@]}"
