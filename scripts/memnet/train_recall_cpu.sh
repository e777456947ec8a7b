#!/usr/bin/env bash
# Train a MemNet recall model on the CPU within 20 minutes, with the 3-stage curriculum of
# docs/results/memnet.md (section 1): distances 4-24 (inside the controller's 32-token window: it
# learns the association with attention) until the evaluation reaches 98% (at most 1500 steps), to
# step 2800 at 8-64, then at 8-256 until the 20 minutes are spent (at most step 4500). KEY=VALUE settings apply to stages 2 and 3,
# e.g. model.window=8 model.chunk_size=8 model.pressure_weight=0.05 (shrink the window so that
# only the memory bridges the distance, and press the write gates).
# Usage: scripts/memnet/train_recall_cpu.sh OUT [SEED] [KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
MEMSCOPE=${MEMSCOPE:-.venv/bin/memscope}
OUT=${1:?usage: train_recall_cpu.sh OUT [SEED] [KEY=VALUE ...]}
SEED=${2:-0}
shift $(( $# >= 2 ? 2 : 1 ))
LATE=()
for kv in "$@"; do LATE+=(--set "$kv"); done
COMMON=(--task recall --batch-size 32 --eval-every 250 --quiet --seed "$SEED" --device cpu
        --set model.top_k=8 --set model.strength_init=5 --set "threads=${THREADS:-2}")
export HF_HUB_OFFLINE=1
began=$(date +%s)
$MEMSCOPE train memnet "${COMMON[@]}" --out "$OUT" --steps 1500 --set target_accuracy=0.98 --set task.min_distance=4 --set task.max_distance=24
$MEMSCOPE train memnet "${COMMON[@]}" --out "$OUT" --resume "$OUT" --steps 2800 --set task.min_distance=8 --set task.max_distance=64 "${LATE[@]}"
$MEMSCOPE train memnet "${COMMON[@]}" --out "$OUT" --resume "$OUT" --steps 4500 --set task.min_distance=8 --set task.max_distance=256 \
  --time-limit $(( 1200 - ($(date +%s) - began) )) "${LATE[@]}"
echo "trained in $(( $(date +%s) - began )) s"
