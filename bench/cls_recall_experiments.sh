#!/usr/bin/env bash
# Associative recall (issue 5: near 0% error at R = 50) and the Hebbian-vs-delta capacity curve, in one batch
# on one GPU: a few models train side by side (each process one CPU thread), then each is evaluated at
# R = 8..128 into a trace. Results in docs/results/cls.md.
#
#   bash bench/cls_recall_experiments.sh OUT_DIR [cuda|cpu] [tiny]
#
# Env: LIMIT (seconds of training per model, default 400), PROBE (seconds of the rate probe, default 25),
# RUNS (names of the runs to train, default all), BATCH (default 128), TRACES=1 (also write evaluation traces).
#
# The learning rate decays (cosine, to 10%) over the steps a model can make in LIMIT seconds: a short probe
# of every run side by side measures its steps per second first, then each run trains for
# steps = rate * LIMIT * 0.95 (the number is printed and kept in its checkpoint's config.json).
# OUT_DIR receives checkpoints/, logs/, eval/ (accuracies per R, one text file per model), traces/ (TRACES=1) and
# steps.txt (the steps each run was given).
set -u
OUT=${1:?usage: cls_recall_experiments.sh OUT_DIR [device] [tiny]}
DEVICE=${2:-cuda}
TINY=${3:-}
MEMSCOPE=${MEMSCOPE:-memscope}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT/checkpoints" "$OUT/logs" "$OUT/eval" "$OUT/traces" "$OUT/probe"

if [ -n "$TINY" ]; then
  LIMIT=${LIMIT:-20}; PROBE=${PROBE:-6}; BATCH=${BATCH:-8}; PAIRS_MAX=12; KEYS=16; SWEEP=4,8,12,16; SWEEP_256=24,32; EVALB=1
  K128="--set model.d_model=16 --set model.n_heads=1 --set model.d_ff=32"
  K64="--set model.d_model=16 --set model.n_heads=2 --set model.d_ff=32"
  D256="--set model.d_model=32 --set model.n_heads=2 --set model.d_ff=64"
else
  LIMIT=${LIMIT:-400}; PROBE=${PROBE:-25}; BATCH=${BATCH:-128}; PAIRS_MAX=64; KEYS=128; SWEEP=8,16,32,50,64,96,128; SWEEP_256=192,256; EVALB=16
  K128="--set model.d_model=128 --set model.n_heads=1 --set model.d_ff=256"   # d_k = 128
  K64="--set model.d_model=128 --set model.n_heads=2 --set model.d_ff=256"    # d_k = 64 (last session's size)
  D256="--set model.d_model=256 --set model.n_heads=2 --set model.d_ff=512"   # d_k = 128, twice the width
fi

# R in [8, 64] per batch, 8 queries per training sequence, 1 in evaluation; windowed attention (a token and its
# predecessor) and no position embeddings, so only the fast weights can bridge a pair and its query.
COMMON="--set model.n_layers=2 --set model.attn_window=2 --set model.pos_embedding=false --set model.chunk_size=256 --set model.max_len=512 --set model.full_precision=true --set threads=1"
TASK="--set task.n_pairs=8 --set task.max_pairs=$PAIRS_MAX --set task.n_keys=$KEYS --set task.n_values=32 --set task.n_queries=8 --set eval.n_queries=1"
NOGATE="--set model.use_gate=false"
# 2 x more distinct keys than d_k = 128 (evaluated up to R = 256, past d_k; sequences up to 515 tokens)
KEYS256="--set task.n_keys=$((2 * KEYS)) --set model.max_len=1024"
declare -A ARGS=(
  [delta-k128]="$K128 --set model.rule=delta $NOGATE"
  [hebbian-k128]="$K128 --set model.rule=hebbian $NOGATE"
  [delta-k128-eta1]="$K128 --set model.rule=delta $NOGATE --set model.eta=1.0"
  [delta-k128-gate-open]="$K128 --set model.rule=delta --set model.eta=1.0 --set model.gate_bias_init=3.0"
  [delta-d256]="$D256 --set model.rule=delta $NOGATE"
  [hebbian-d256]="$D256 --set model.rule=hebbian $NOGATE"
  [delta-k64]="$K64 --set model.rule=delta $NOGATE"
  [hebbian-k64]="$K64 --set model.rule=hebbian $NOGATE"
  [delta-k128-eta1-seed1]="$K128 --set model.rule=delta $NOGATE --set model.eta=1.0 --set seed=1"
  [delta-k128-eta1-bf16]="$K128 --set model.rule=delta $NOGATE --set model.eta=1.0 --set model.full_precision=false"
  [delta-k64-eta1]="$K64 --set model.rule=delta $NOGATE --set model.eta=1.0"
  [hebbian-k64-eta1]="$K64 --set model.rule=hebbian $NOGATE --set model.eta=1.0"
  [delta-k64-eta1-seed1]="$K64 --set model.rule=delta $NOGATE --set model.eta=1.0 --set seed=1"
  [delta-k64-eta1-seed2]="$K64 --set model.rule=delta $NOGATE --set model.eta=1.0 --set seed=2"
  [hebbian-k64-eta1-seed1]="$K64 --set model.rule=hebbian $NOGATE --set model.eta=1.0 --set seed=1"
  [delta-k64-eta1-gate-open]="$K64 --set model.rule=delta --set model.eta=1.0 --set model.gate_bias_init=3.0"
  [delta-k128-eta1-keys256]="$K128 --set model.rule=delta $NOGATE --set model.eta=1.0 $KEYS256"
  [hebbian-k128-eta1-keys256]="$K128 --set model.rule=hebbian $NOGATE --set model.eta=1.0 $KEYS256"
)
RUNS=${RUNS:-delta-k128 hebbian-k128 delta-k128-eta1 delta-k128-gate-open delta-d256 hebbian-d256 delta-k64 hebbian-k64}
sweep_of() {  # the R values a run is evaluated at
  case $1 in *keys256) echo "$SWEEP,$SWEEP_256" ;; *) echo "$SWEEP" ;; esac
}

train() {  # name, steps, time limit, eval every, out
  $MEMSCOPE train cls --task assoc-recall --quiet --device "$DEVICE" --batch-size "$BATCH" --lr 0.002 \
    --steps "$2" --time-limit "$3" --eval-every "$4" --out "$5" $COMMON $TASK ${ARGS[$1]}
}

# 1. rate probe: every run side by side (as in the real phase) for PROBE seconds
for name in $RUNS; do
  train "$name" 1000000 "$PROBE" 1000000 "$OUT/probe/$name" > "$OUT/logs/probe-$name.log" 2>&1 &
done
wait
: > "$OUT/steps.txt"
for name in $RUNS; do
  steps=$($PYTHON -c "import json,sys; m=json.load(open(sys.argv[1])); print(max(100, int(m['step'] / m['train_seconds'] * $LIMIT * 0.95)))" "$OUT/probe/$name/metrics.json")
  echo "$name $steps" >> "$OUT/steps.txt"
done
cat "$OUT/steps.txt"

# 2. training: cosine schedule over the measured steps, the time limit only as a safety net
while read -r name steps; do
  train "$name" "$steps" $((LIMIT + 60)) 2000 "$OUT/checkpoints/$name" > "$OUT/logs/$name.log" 2>&1 &
done < "$OUT/steps.txt"
wait

# 3. evaluation: accuracy at each R (1 query per sequence, EVALB batches of 64 sequences per point, seed 1234:
# the numbers `memscope eval CKPT --task assoc-recall --pairs SWEEP --set task.n_queries=1 --batches EVALB
# --batch-size 64` gives); with TRACES=1 also that command, writing each model's evaluation trace
for name in $RUNS; do
  $PYTHON bench/cls_recall_eval.py "$OUT/checkpoints/$name" --pairs "$(sweep_of "$name")" --batches $EVALB --batch-size 64 --device "$DEVICE" \
    > "$OUT/eval/$name.txt" 2>&1 &
done
wait
if [ "${TRACES:-0}" = 1 ]; then
  for name in $RUNS; do
    $MEMSCOPE eval "$OUT/checkpoints/$name" --task assoc-recall --pairs "$(sweep_of "$name")" --set task.n_queries=1 \
      --batches $EVALB --batch-size 64 --device "$DEVICE" --out "$OUT/traces/$name.duckdb" > "$OUT/logs/trace-$name.log" 2>&1 &
  done
  wait
fi
grep -H "accuracy" "$OUT"/eval/*.txt
