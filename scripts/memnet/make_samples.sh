#!/usr/bin/env bash
# Regenerate the shipped MemNet samples: two recall models trained on this CPU in 20 minutes each
# (side by side, one thread each) with the same recipe (scripts/memnet/train_recall_keyed_cpu.sh,
# seed 0) that differ in one factor, how the memory is addressed:
#   sample_traces/models/memnet-recall-keyed/    slot keys: reads compare with what each slot is about
#                                                (recall ~1.0 from 16 to 4096 tokens)
#   sample_traces/models/memnet-recall-content/  reads compare with the slot contents (seed 002 as
#                                                written): never finds its facts, ~1/3 at every distance
#   sample_traces/memnet/recall_keyed_vs_content.duckdb   both evaluated at distances 16..4096, one
#                                                sequence per distance traced in full (about 6 MB)
# Usage: scripts/memnet/make_samples.sh [WORKDIR]   (default runs/memnet-samples; keeps full checkpoints)
set -euo pipefail
cd "$(dirname "$0")/../.."
MEMSCOPE=${MEMSCOPE:-.venv/bin/memscope}
WORK=${1:-runs/memnet-samples}
rm -rf "$WORK" && mkdir -p "$WORK"
export THREADS=1
scripts/memnet/train_recall_keyed_cpu.sh "$WORK/memnet-recall-keyed" 0 > "$WORK/keyed.log" 2>&1 &
keyed=$!
scripts/memnet/train_recall_keyed_cpu.sh "$WORK/memnet-recall-content" 0 model.slot_keys=false > "$WORK/content.log" 2>&1 &
content=$!
wait "$keyed"  # each wait returns its training's exit status: set -e stops on a failed one
wait "$content"
TRACE=sample_traces/memnet/recall_keyed_vs_content.duckdb
mkdir -p sample_traces/models sample_traces/memnet
for name in memnet-recall-keyed memnet-recall-content; do
  rm -rf "sample_traces/models/$name" && mkdir -p "sample_traces/models/$name"
  cp "$WORK/$name"/{model.safetensors,config.json,metrics.json} "sample_traces/models/$name/"
  $MEMSCOPE eval "sample_traces/models/$name" --task recall --distances 16,64,256,1024,4096 --out "$WORK/trace.duckdb" --name "$name" \
    --batches 4 --batch-size 32 --trace-batch 1 --device cpu
done
# a fresh file through Parquet holds the same rows in about half the bytes (no free blocks, no index tables)
$MEMSCOPE export "$WORK/trace.duckdb" --all --format parquet --out "$WORK/parquet"
rm -f "$TRACE"
$MEMSCOPE import "$WORK/parquet" --out "$TRACE"
