#!/usr/bin/env bash
# End-to-end benchmark run with the embedded default heapmetric model (heapmetric/models/default/) as the judge:
#   1. AlpacaEval 2.0 on the 6 shipped systems (alpacaeval/model_outputs) vs gpt4_1106_preview,
#   2. Arena-Hard v0.1 on the 2 shipped systems vs gpt-4-0314 (100 bootstrap rounds, seed 42),
#   3. judge diagnostics on LLMBar (agreement with humans, position/length bias, swap consistency),
#   4. the alpaca-7b reproduction from the shipped GPT-4-turbo annotations (a check of the statistics).
# Each benchmark prints its leaderboard and the Kendall tau against the published leaderboard; the results land in
# $OUT/{alpacaeval,arena_hard,diagnostics,alpaca7b_reproduction}/ (leaderboard.csv, summary.json, PNG, annotations).
#
# Usage: benchmarks/run_bench_default.sh [extra args for every bench command]
#   JUDGE=heapmetric:/path/to/checkpoint benchmarks/run_bench_default.sh     # another checkpoint
#   JUDGE='heapmetric?device=cuda' OUT=/tmp/bench benchmarks/run_bench_default.sh
# Cost with a MiniLM-sized metric on 2 CPU cores: about 9,700 + 2,000 + 1,800 forward passes (~15-20 min at
# ~14 items/s); minutes on a GPU. Verdicts are cached ($HEAPMETRIC_CACHE/annotations.sqlite): a re-run is free,
# an interrupted run resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false
export HEAPMETRIC_DATA="${HEAPMETRIC_DATA:-$(cd .. && pwd)/shared/data}"
JUDGE="${JUDGE:-heapmetric}"
OUT="${OUT:-benchmarks/results/bench_default}"
HM=heapmetric
if [ -x .venv/bin/heapmetric ]; then HM=.venv/bin/heapmetric; fi

echo "== AlpacaEval 2.0 (judge: $JUDGE)"
"$HM" bench alpacaeval --judge "$JUDGE" --out "$OUT/alpacaeval" "$@"
echo "== Arena-Hard v0.1 (judge: $JUDGE)"
"$HM" bench arena-hard --judge "$JUDGE" --out "$OUT/arena_hard" "$@"
echo "== Judge diagnostics on LLMBar (judge: $JUDGE)"
"$HM" bench diagnose --judge "$JUDGE" --out "$OUT/diagnostics" "$@"
echo "== alpaca-7b reproduction from the shipped annotations"
"$HM" bench alpacaeval --model-outputs "$HEAPMETRIC_DATA/alpacaeval/model_outputs/alpaca-7b.json" \
  --judge "annotations:$HEAPMETRIC_DATA/alpacaeval/llm_judge_annotations/alpaca-7b__weighted_alpaca_eval_gpt4_turbo.json" \
  --out "$OUT/alpaca7b_reproduction" --no-cache
echo "results in $OUT"
