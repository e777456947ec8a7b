#!/usr/bin/env bash
# Regenerate the shipped MemNet samples:
#   sample_traces/models/memnet-recall-cpu/  trained here on the CPU (3-stage curriculum, ~14 min on 2
#                                            shared cores): stuck on the 1/3 plateau past the controller window
#   sample_traces/models/memnet-recall-gpu/  the GPU run that found the memory solution (recall 1.0 up to
#                                            4096 tokens); retrained only when a CUDA GPU is present
#   sample_traces/memnet/recall_memory_vs_plateau.duckdb   both evaluated at distances 16..4096
# Usage: scripts/memnet/make_samples.sh [WORKDIR]   (default runs/memnet-samples; keeps full checkpoints)
set -euo pipefail
cd "$(dirname "$0")/../.."
MEMSCOPE=${MEMSCOPE:-.venv/bin/memscope}
PYTHON=${PYTHON:-.venv/bin/python}
WORK=${1:-runs/memnet-samples}
CK="$WORK/memnet-recall"
COMMON=(--task recall --batch-size 16 --eval-every 200 --quiet --seed 0
        --set threads=1 --set eval_batches=2 --set model.n_layers=1 --set model.top_k=8 --set model.strength_init=5
        --set model.token_shift=true)
rm -rf "$WORK" && mkdir -p "$WORK"
export HF_HUB_OFFLINE=1
# CPU model: three curriculum stages, each resuming the previous one
$MEMSCOPE train memnet "${COMMON[@]}" --out "$CK" --steps 600 --set task.min_distance=4 --set task.max_distance=24 --time-limit 200
$MEMSCOPE train memnet "${COMMON[@]}" --out "$CK" --resume "$CK" --steps 1400 --set task.min_distance=8 --set task.max_distance=64 --time-limit 300
$MEMSCOPE train memnet "${COMMON[@]}" --out "$CK" --resume "$CK" --steps 4000 --set task.min_distance=8 --set task.max_distance=256 --time-limit 600
mkdir -p sample_traces/models sample_traces/memnet
rm -rf sample_traces/models/memnet-recall-cpu && mkdir -p sample_traces/models/memnet-recall-cpu
cp "$CK"/{model.safetensors,config.json,metrics.json} sample_traces/models/memnet-recall-cpu/
# GPU model (run t-soft-3s of scripts/memnet/gpu_sweep3.json: bf16, ~4 minutes on an H200)
if $PYTHON -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  $PYTHON scripts/memnet/run_experiments.py scripts/memnet/gpu_sweep3.json "$WORK/gpu" --only t-soft-3s --device cuda
  rm -rf sample_traces/models/memnet-recall-gpu && mkdir -p sample_traces/models/memnet-recall-gpu
  cp "$WORK/gpu/t-soft-3s"/{model.safetensors,config.json,metrics.json} sample_traces/models/memnet-recall-gpu/
fi
TRACE=sample_traces/memnet/recall_memory_vs_plateau.duckdb
rm -f "$TRACE"
for name in memnet-recall-gpu memnet-recall-cpu; do
  $MEMSCOPE eval "sample_traces/models/$name" --task recall --distances 16,64,256,1024,4096 --out "$TRACE" --name "$name" \
    --batches 4 --batch-size 32 --trace-batch 1 --device cpu
done
