#!/usr/bin/env bash
# Unpack what benchmarks/gpu/train_default.sh wrote: the model into heapmetric/models/default/ (or $MODEL_DIR)
# and the results into runs/gpu_default/results/ (or $RESULTS_DIR).
#     bash benchmarks/gpu/unpack_default.sh FOLDER_WITH_model.tar.gz.part-NN_AND_results.tar.gz
set -euo pipefail
SRC="${1:?usage: unpack_default.sh FOLDER}"
cd "$(dirname "$0")/../.."
MODEL_DIR="${MODEL_DIR:-heapmetric/models/default}"
RESULTS_DIR="${RESULTS_DIR:-runs/gpu_default}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat "$SRC"/model.tar.gz.part-* > "$tmp/model.tar.gz"
tar -xzf "$tmp/model.tar.gz" -C "$tmp"
mkdir -p "$MODEL_DIR"
# keep hand-written files of the model folder (the model card); replace the weights and heapmetric.json
cp -f "$tmp"/model/* "$MODEL_DIR"/
mkdir -p "$RESULTS_DIR"
tar -xzf "$SRC/results.tar.gz" -C "$RESULTS_DIR"
echo "model -> $MODEL_DIR ($(du -sh "$MODEL_DIR" | cut -f1)); results -> $RESULTS_DIR/results"
