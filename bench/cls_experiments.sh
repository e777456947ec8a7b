#!/usr/bin/env bash
# The CLS results of docs/results/cls.md in one batch: the throughput benchmark, then every training
# run in parallel on one GPU (small models are launch-bound, so they share it well), then evaluations.
#
#   bash bench/cls_experiments.sh OUT_DIR [cuda|cpu] [tiny]
#
# OUT_DIR receives checkpoints/, logs/, eval/ (one text file of accuracies per model) and bench-cls.json.
# "tiny" shrinks every size and step count for a CPU dry run of the whole pipeline.
set -u
OUT=${1:?usage: cls_experiments.sh OUT_DIR [device] [tiny]}
DEVICE=${2:-cuda}
TINY=${3:-}
MEMSCOPE=${MEMSCOPE:-memscope}
mkdir -p "$OUT/checkpoints" "$OUT/logs" "$OUT/eval" "$OUT/traces"

if [ -n "$TINY" ]; then
  STEPS=30; CSTEPS=10; LIMIT=60; BATCH=8; PAIRS_MAX=12; KEYS=16; SWEEP=4,8,12; D=32; FF=64; EVALB=1
  BENCH="--tiny"
else
  STEPS=20000; CSTEPS=${CSTEPS:-1500}; LIMIT=${LIMIT:-330}; BATCH=64; PAIRS_MAX=64; KEYS=128; SWEEP=8,16,32,50,64,96,128; D=128; FF=256; EVALB=8
  BENCH=""
fi

python bench/cls_throughput.py --device "$DEVICE" $BENCH --json "$OUT/bench-cls.json" > "$OUT/logs/bench.log" 2>&1

# associative recall (Ba et al. 2016): R in [8, 64] per batch (evaluated up to 128), windowed attention (2 tokens: a token and its predecessor), no position embeddings, so that
# only the fast weights can bridge a pair and its query; d_k = d_model / n_heads = 64
MODEL="--set model.d_model=$D --set model.n_heads=2 --set model.n_layers=2 --set model.d_ff=$FF --set model.attn_window=2 --set model.pos_embedding=false --set model.chunk_size=64 --set model.max_len=512 --set model.full_precision=true"
TASK="--set task.n_pairs=8 --set task.max_pairs=$PAIRS_MAX --set task.n_keys=$KEYS --set task.n_values=32 --set task.n_queries=8 --set eval.n_queries=1"
train() {  # name, model, extra args
  local name=$1 model=$2; shift 2
  $MEMSCOPE train "$model" --quiet --device "$DEVICE" --steps $STEPS --batch-size $BATCH --lr 0.002 --eval-every 1000 \
    --time-limit $LIMIT --out "$OUT/checkpoints/$name" "$@" > "$OUT/logs/$name.log" 2>&1
}
train cls-hebbian cls --task assoc-recall $MODEL $TASK --set model.rule=hebbian &
train cls-delta cls --task assoc-recall $MODEL $TASK --set model.rule=delta &
train cls-delta-nogate cls --task assoc-recall $MODEL $TASK --set model.rule=delta --set model.use_gate=false &
train cls-delta-nocontext cls --task assoc-recall $MODEL $TASK --set model.rule=delta --set model.use_context=false &
train cls-delta-nogate-nocontext cls --task assoc-recall $MODEL $TASK --set model.rule=delta --set model.use_gate=false --set model.use_context=false &
train cls-hyper cls --task assoc-recall $MODEL $TASK --set model.rule=hyper &
train transformer-window2 cls --task assoc-recall $MODEL $TASK --set model.fast_weights=false &

# continual learning: 4 shifted recall tasks in turn, full attention; protection off / on
CONT="--task continual --steps $CSTEPS --set model.d_model=$D --set model.n_heads=2 --set model.n_layers=2 --set model.d_ff=$FF --set model.full_precision=true"
ctrain() {
  local name=$1 model=$2; shift 2
  $MEMSCOPE train "$model" --quiet --device "$DEVICE" --batch-size $BATCH --lr 0.002 --eval-every 500 --time-limit $LIMIT \
    --out "$OUT/checkpoints/$name" "$@" > "$OUT/logs/$name.log" 2>&1
}
ctrain cont-cls cls $CONT &
ctrain cont-cls-replay-ewc cls $CONT --set model.replay_weight=1.0 --set model.ewc_strength=100 &
ctrain cont-cls-replay-si cls $CONT --set model.replay_weight=1.0 --set model.si_strength=1.0 &
ctrain cont-transformer transformer --task continual --steps $CSTEPS --set model.d_model=$D --set model.n_attn_heads=2 --set model.n_layers=2 &
wait

for ckpt in cls-hebbian cls-delta cls-delta-nogate cls-delta-nocontext cls-delta-nogate-nocontext cls-hyper transformer-window2; do
  $MEMSCOPE eval "$OUT/checkpoints/$ckpt" --task assoc-recall --pairs $SWEEP --set task.max_pairs=null --set task.n_queries=1 \
    --batches $EVALB --batch-size 64 --device "$DEVICE" --out "$OUT/traces/$ckpt.duckdb" > "$OUT/eval/$ckpt.txt" 2>&1 &
done
for ckpt in cont-cls cont-cls-replay-ewc cont-cls-replay-si cont-transformer; do
  $MEMSCOPE eval "$OUT/checkpoints/$ckpt" --task continual --batches $EVALB --device "$DEVICE" --out "$OUT/traces/$ckpt.duckdb" > "$OUT/eval/$ckpt.txt" 2>&1 &
done
wait
grep -H "accuracy" "$OUT"/eval/*.txt
