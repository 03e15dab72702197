#!/usr/bin/env bash
# After the GPU run: unpack its files, write the model card, and copy the held-out table into the docs.
#     bash benchmarks/gpu/finish_default.sh FOLDER_WITH_GPU_FILES
# Needs runs/baselines_test.json (python -m training.model_card baselines --out runs/baselines_test.json).
# REMEASURE=1 re-measures the shipped model on the test splits here (CPU, slow) instead of using the GPU numbers.
set -euo pipefail
SRC="${1:?usage: finish_default.sh FOLDER}"
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
MODEL_DIR="${MODEL_DIR:-heapmetric/models/default}"
RESULTS_DIR="${RESULTS_DIR:-runs/gpu_default}"
HELDOUT_DOC="${HELDOUT_DOC:-docs/training_heldout.md}"
export MODEL_DIR RESULTS_DIR
bash benchmarks/gpu/unpack_default.sh "$SRC"
R="$RESULTS_DIR/results"
RESULTS="$R/test.json"
MEASURED="on the GPU that trained it, right after training (the same weights; embeddings there were an fp16 copy)"
if [ "${REMEASURE:-0}" = 1 ]; then
  $PY -m heapmetric.cli evaluate-model --model "$MODEL_DIR" --data data_build --split test \
      --device cpu --out runs/default_test_local.json > /dev/null
  RESULTS=runs/default_test_local.json
  MEASURED="here on CPU with the shipped files ($MODEL_DIR)"
fi
held=()
if [ -f "$R/heldout.md" ]; then
  held=(--heldout "$R/heldout.md")
  cp "$R/heldout.md" "$HELDOUT_DOC"
fi
$PY -m training.model_card card --model "$MODEL_DIR" --results "$RESULTS" \
    --baselines runs/baselines_test.json --summary "$R/summary.json" --measured-on "$MEASURED" "${held[@]}"
echo "model card: $MODEL_DIR/README.md"
