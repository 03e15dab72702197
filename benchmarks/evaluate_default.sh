#!/usr/bin/env bash
# Every measure of the default-model issue for one checkpoint, on this CPU, written under $OUT:
#   1. test splits (evaluate-model): the v1 datasets in full, the instruction-following/robustness sets capped;
#   2. the robustness suite (perturbation x criterion, test split);
#   3. AlpacaEval 2.0 (6 shipped systems x 805 vs gpt4_1106_preview), Arena-Hard v0.1, LLMBar diagnostics
#      (benchmarks/run_bench_default.sh with this checkpoint as the judge);
#   4. the two example files of `make run`.
# Usage: MODEL=runs/default_v2/model OUT=benchmarks/results/default_v2 benchmarks/evaluate_default.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false
export HEAPMETRIC_DATA="${HEAPMETRIC_DATA:-$(cd .. && pwd)/shared/data}"
MODEL="${MODEL:?set MODEL to a checkpoint folder}"
OUT="${OUT:?set OUT to a results folder}"
HM=heapmetric
if [ -x .venv/bin/heapmetric ]; then HM=.venv/bin/heapmetric; fi
mkdir -p "$OUT"
V1_SETS="data2text fed heap_sources llmbar personachat_usr qags rank19 realsumm summeval topicalchat_usr wmt_mqm_ted"
NEW_SETS="alpacaeval_annotations arena_bench_v1 autoj_pairwise prometheus_eval perturbations"

echo "== examples of make run"
"$HM" score --model "$MODEL" -i heapmetric/examples/summaries.jsonl --task summarization --criterion coherence \
  -o "$OUT/examples_summaries.jsonl" -q
"$HM" score --model "$MODEL" -i heapmetric/examples/instructions.jsonl --task instruction_following \
  --criterion overall -o "$OUT/examples_instructions.jsonl" -q
echo "== test split, v1 datasets"
"$HM" evaluate-model --model "$MODEL" --data data_build --split test --datasets $V1_SETS --out "$OUT/test_v1sets.json" -q
echo "== test split, new datasets (at most 100 outputs per group)"
"$HM" evaluate-model --model "$MODEL" --data data_build --split test --datasets $NEW_SETS --max-per-group 100 \
  --out "$OUT/test_newsets.json" -q
echo "== robustness suite"
"$HM" robustness --model "$MODEL" --data-dir data_build --split test --per-cell 20 -o "$OUT/robustness" -q || true
echo "== benchmarks"
JUDGE="heapmetric:$MODEL" OUT="$OUT/bench" benchmarks/run_bench_default.sh --quiet
echo "results in $OUT"
