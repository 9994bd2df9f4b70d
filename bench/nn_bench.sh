#!/usr/bin/env bash
# nn_bench.sh - tutorial-net training (batch 64) and inference (batch 1000)
# throughput on MNIST, cassnn vs PyTorch 1.13, in the same run, both on 2
# threads.
#
# Usage: bench/nn_bench.sh [BUILD_DIR] [EPOCHS]   (defaults: build, 1)
# Needs: $CASSNN_DATA (default /work/shared/data) holding mnist/*.gz, and
# Debian's /usr/bin/python3 with torch.
#
# PyTorch runs in three configurations and the best one per metric is the
# reference: torch.set_num_threads(2) with OPENBLAS_NUM_THREADS=1, the same
# with OpenBLAS' default threads, and torch.set_num_threads(1). cassnn runs
# with --threads 2. Both keep the whole data set decoded in memory and time
# only training and inference; both report peak RSS of the whole process.
set -euo pipefail

BUILD=${1:-build}
EPOCHS=${2:-1}
BENCH="$BUILD/bench/nn_bench"
HERE=$(cd "$(dirname "$0")" && pwd)
export CASSNN_DATA=${CASSNN_DATA:-/work/shared/data}
[ -x "$BENCH" ] || { echo "no $BENCH: build first (cmake --build $BUILD --target nn_bench)" >&2; exit 1; }

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
cassnn=$("$BENCH" --threads 2 --epochs "$EPOCHS")
echo "$cassnn"
best_train=0 best_infer=0 best_cpu=0 best_train_cfg="" best_infer_cfg="" best_cpu_cfg=""
for cfg in "OPENBLAS_NUM_THREADS=1 2" "default 2" "OPENBLAS_NUM_THREADS=1 1"; do
    set -- $cfg
    env_arg=$1 threads=$2
    if [ "$env_arg" = default ]; then
        out=$(/usr/bin/python3 "$HERE/nn_bench_torch.py" --threads "$threads" --epochs "$EPOCHS")
    else
        out=$(env "$env_arg" /usr/bin/python3 "$HERE/nn_bench_torch.py" --threads "$threads" --epochs "$EPOCHS")
    fi
    echo "$out  [$env_arg, torch.set_num_threads($threads)]"
    t=$(field train_img_s "$out") i=$(field infer_img_s "$out") u=$(field train_img_per_cpu_s "$out")
    if awk "BEGIN{exit !($u > $best_cpu)}"; then best_cpu=$u best_cpu_cfg="$env_arg, set_num_threads($threads)"; fi
    if awk "BEGIN{exit !($t > $best_train)}"; then best_train=$t best_train_cfg="$env_arg, set_num_threads($threads)"; fi
    if awk "BEGIN{exit !($i > $best_infer)}"; then best_infer=$i best_infer_cfg="$env_arg, set_num_threads($threads)"; fi
done
ct=$(field train_img_s "$cassnn") ci=$(field infer_img_s "$cassnn") cu=$(field train_img_per_cpu_s "$cassnn")
awk -v ct="$ct" -v ci="$ci" -v cu="$cu" -v bt="$best_train" -v bi="$best_infer" -v bu="$best_cpu" \
    -v tc="$best_train_cfg" -v ic="$best_infer_cfg" -v uc="$best_cpu_cfg" 'BEGIN {
    printf "training  (batch 64):   cassnn %6.0f img/s, PyTorch %6.0f img/s (%s): %.2fx\n", ct, bt, tc, ct / bt
    printf "inference (batch 1000): cassnn %6.0f img/s, PyTorch %6.0f img/s (%s): %.2fx\n", ci, bi, ic, ci / bi
    printf "training per CPU-second: cassnn %6.0f img, PyTorch %6.0f img (%s): %.2fx\n", cu, bu, uc, cu / bu
}'
