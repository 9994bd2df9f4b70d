#!/usr/bin/env bash
# nn_bench.sh - training (batch 64) and inference (batch 1000) throughput on
# MNIST of two nets, cassnn against two PyTorch builds, all in one run, each
# figure also as a fraction of the machine's FMA peak measured in the same run.
#
# Usage: bench/nn_bench.sh [BUILD_DIR] [EPOCHS] [IMAGES] [ROUNDS]
#   (defaults: build, 1, all, 1)
#   IMAGES: train on the first IMAGES images of the training set only
#   ROUNDS: run every program and configuration this many times, in turn;
#           each figure is the best of its rounds (a busy machine slows some
#           runs, never speeds one up)
# Environment: CASSNN_DATA (default /work/shared/data) holding mnist/*.gz;
#   NN_BENCH_THREADS (default: every CPU); NN_BENCH_TORCH2=0 leaves PyTorch 2.x
#   out (no install).
#
# Nets: "tutorial" (the PyTorch MNIST example's) and "modern"
#   conv(32,k=3,p=1) bn relu maxpool(2) conv(64,k=3,p=1) bn relu maxpool(2)
#   flatten linear(128) relu dropout linear(10) logsoftmax
# References:
#   - PyTorch 1.13, Debian's python3-torch (/usr/bin/python3), in three
#     configurations: torch.set_num_threads(T) with OPENBLAS_NUM_THREADS=1, the
#     same with OpenBLAS' default threads, and torch.set_num_threads(1);
#   - PyTorch 2.x from PyPI (oneDNN + MKL, AVX-512 where the processor has it),
#     installed by this script into bench/.venv-torch (gitignored; the wheel
#     pulls ~5 GB of CUDA packages but runs on the CPU): set_num_threads(T)
#     and set_num_threads(1).
# Each PyTorch's best configuration per figure is its reference. cassnn runs
# with T threads and with 1, and its best counts too. All keep the data set decoded in memory and time only
# training and inference; peak RSS is the whole process's.
# Peak: bench/nn_bench_peak (an FMA loop on every CPU, per instruction set);
# the fraction of peak counts the dense FLOPs of the convolutions and linear
# layers (nn_bench's train_mflop_img / infer_mflop_img), for every program
# alike (cassnn's sparse backward skips zero gradients, so its training
# fraction counts work it did not have to do).
set -euo pipefail

BUILD=${1:-build}
EPOCHS=${2:-1}
IMAGES=${3:-0}
ROUNDS=${4:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
export CASSNN_DATA=${CASSNN_DATA:-/work/shared/data}
THREADS=${NN_BENCH_THREADS:-$(nproc)}
for b in nn_bench nn_bench_peak; do
    [ -x "$BUILD/bench/$b" ] || { echo "no $BUILD/bench/$b: build first (cmake --build $BUILD --target $b)" >&2; exit 1; }
done
MODERN='conv(32,k=3,p=1) bn relu maxpool(2) conv(64,k=3,p=1) bn relu maxpool(2) flatten linear(128) relu dropout linear(10) logsoftmax'

VENV="$HERE/.venv-torch"
torch2=""
if [ "${NN_BENCH_TORCH2:-1}" = 0 ]; then
    echo "PyTorch 2.x left out (NN_BENCH_TORCH2=0)"
elif [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    echo "installing PyTorch 2.x from PyPI into $VENV (~5 GB with its CUDA packages)..."
    if python3 -m venv "$VENV" && "$VENV/bin/pip" install -q torch numpy; then :; else
        echo "PyTorch 2.x could not be installed: it is left out of this run" >&2
    fi
fi
if [ "${NN_BENCH_TORCH2:-1}" != 0 ] && "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    torch2="$VENV/bin/python"
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench/nn_bench_peak" --threads "$THREADS" | tee -a "$results"

run() { # NAME NET CONFIG COMMAND...: one program's line, tagged
    local name=$1 net=$2 cfg=$3
    shift 3
    local out
    out=$("$@") || { echo "$name ($cfg) failed" >&2; return 0; }
    echo "$name net=$net cfg=[$cfg] ${out#* }" | tee -a "$results"
}

for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS"
  for net in tutorial modern; do
    desc=$net
    [ "$net" = modern ] && desc=$MODERN
    for t in $(printf '%s\n' "$THREADS" 1 | uniq); do
        run cassnn "$net" "threads=$t" "$BUILD/bench/nn_bench" --model "$desc" --threads "$t" \
            --epochs "$EPOCHS" --images "$IMAGES"
    done
    args=(--net "$net" --epochs "$EPOCHS" --images "$IMAGES")
    run torch1 "$net" "OPENBLAS_NUM_THREADS=1, set_num_threads($THREADS)" \
        env OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$HERE/nn_bench_torch.py" "${args[@]}" --threads "$THREADS"
    run torch1 "$net" "set_num_threads($THREADS)" \
        /usr/bin/python3 "$HERE/nn_bench_torch.py" "${args[@]}" --threads "$THREADS"
    run torch1 "$net" "OPENBLAS_NUM_THREADS=1, set_num_threads(1)" \
        env OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$HERE/nn_bench_torch.py" "${args[@]}" --threads 1
    if [ -n "$torch2" ]; then
        run torch2 "$net" "set_num_threads($THREADS)" "$torch2" "$HERE/nn_bench_torch.py" "${args[@]}" --threads "$THREADS"
        run torch2 "$net" "set_num_threads(1)" "$torch2" "$HERE/nn_bench_torch.py" "${args[@]}" --threads 1
    fi
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$HERE/nn_bench_table.py" "$results"
