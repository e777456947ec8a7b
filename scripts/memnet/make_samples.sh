#!/usr/bin/env bash
# Regenerate the shipped MemNet samples on this CPU (about 15-20 minutes on 2 shared cores):
#   sample_traces/models/memnet-recall-early/  after the short-distance curriculum stages (d <= 64)
#   sample_traces/models/memnet-recall/        after the long stage (d <= 256): recalls at 1024-4096
#   sample_traces/memnet/recall_early_vs_late.duckdb   both evaluated at distances 16..4096
# Usage: scripts/memnet/make_samples.sh [WORKDIR]   (WORKDIR keeps the full checkpoints; default runs/memnet-samples)
set -euo pipefail
cd "$(dirname "$0")/../.."
MEMSCOPE=${MEMSCOPE:-.venv/bin/memscope}
WORK=${1:-runs/memnet-samples}
CK="$WORK/memnet-recall"
COMMON=(--task recall --batch-size 16 --eval-every 200 --quiet --seed 0
        --set threads=1 --set eval_batches=2 --set model.n_layers=1 --set model.top_k=8 --set model.strength_init=5
        --set model.token_shift=true)
rm -rf "$WORK" && mkdir -p "$WORK"
export HF_HUB_OFFLINE=1
# curriculum: three stages, each resuming the previous one
$MEMSCOPE train memnet "${COMMON[@]}" --out "$CK" --steps 600 --set task.min_distance=4 --set task.max_distance=24 --time-limit 200
$MEMSCOPE train memnet "${COMMON[@]}" --out "$CK" --resume "$CK" --steps 1400 --set task.min_distance=8 --set task.max_distance=64 --time-limit 300
cp -r "$CK" "$WORK/memnet-recall-early"
$MEMSCOPE train memnet "${COMMON[@]}" --out "$CK" --resume "$CK" --steps 4000 --set task.min_distance=8 --set task.max_distance=256 --time-limit 600
mkdir -p sample_traces/models sample_traces/memnet
for name in memnet-recall-early memnet-recall; do
  rm -rf "sample_traces/models/$name" && mkdir -p "sample_traces/models/$name"
  cp "$WORK/$name"/{model.safetensors,config.json,metrics.json} "sample_traces/models/$name/"
done
TRACE=sample_traces/memnet/recall_early_vs_late.duckdb
rm -f "$TRACE"
for name in memnet-recall-early memnet-recall; do
  $MEMSCOPE eval "sample_traces/models/$name" --task recall --distances 16,64,256,1024,4096 --out "$TRACE" --name "$name" \
    --batches 4 --batch-size 32 --trace-batch 1 --device cpu
done
