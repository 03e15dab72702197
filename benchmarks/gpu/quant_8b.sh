#!/usr/bin/env bash
# Run benchmarks/gpu/quant_8b.py on a CUDA machine that lacks bitsandbytes.
# Prepare once, on a machine with network access, in the repository root:
#   bash benchmarks/gpu/prepare_wheels.sh      # bitsandbytes 0.50.2 trimmed to its CUDA 13 + CPU kernels (7 MB)
# Then carry .whl to the CUDA machine and run:  bash benchmarks/gpu/quant_8b.sh
# PYTHON overrides the interpreter (default python3). Writes $OUT/quant_8b.json (OUT defaults to ./out) and $OUT/quant_8b.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
if ! "$PY" -c "import bitsandbytes" 2>/dev/null; then
  if ls .whl/bitsandbytes-*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "bitsandbytes missing and no .whl/ wheel: only bf16 will be measured" >&2
  fi
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
export PYTHONUNBUFFERED=1
"$PY" benchmarks/gpu/quant_8b.py --out "$OUT/quant_8b.json" "$@" 2>&1 | tee "$OUT/quant_8b.log"
