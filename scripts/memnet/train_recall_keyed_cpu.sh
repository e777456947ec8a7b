#!/usr/bin/env bash
# Train a keyed-slot MemNet on long-range recall on the CPU within 20 minutes (docs/results/memnet.md,
# section 1): slot keys, token shift, a controller window of 8 tokens (so the memory, not attention,
# must carry every fact from the start), chunks of 8. Stage 1 trains at distances 12-48 until a
# periodic evaluation reaches 98% (at most 1500 steps); stage 2 at 8-256 until the 20 minutes are
# spent (at most step 4000). KEY=VALUE settings apply to both stages.
# Usage: scripts/memnet/train_recall_keyed_cpu.sh OUT [SEED] [KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
MEMSCOPE=${MEMSCOPE:-.venv/bin/memscope}
OUT=${1:?usage: train_recall_keyed_cpu.sh OUT [SEED] [KEY=VALUE ...]}
SEED=${2:-0}
shift $(( $# >= 2 ? 2 : 1 ))
EXTRA=()
for kv in "$@"; do EXTRA+=(--set "$kv"); done
COMMON=(--task recall --batch-size 32 --eval-every 250 --quiet --seed "$SEED" --device cpu
        --set model.top_k=8 --set model.strength_init=5 --set model.slot_keys=true --set model.token_shift=true
        --set model.window=8 --set model.chunk_size=8 --set "threads=${THREADS:-2}")
export HF_HUB_OFFLINE=1
began=$(date +%s)
$MEMSCOPE train memnet "${COMMON[@]}" --out "$OUT" --steps 1500 --set target_accuracy=0.98 --set task.min_distance=12 --set task.max_distance=48 "${EXTRA[@]}"
$MEMSCOPE train memnet "${COMMON[@]}" --out "$OUT" --resume "$OUT" --steps 4000 --set task.min_distance=8 --set task.max_distance=256 \
  --time-limit $(( 1200 - ($(date +%s) - began) )) "${EXTRA[@]}"
echo "trained in $(( $(date +%s) - began )) s"
