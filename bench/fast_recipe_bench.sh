#!/usr/bin/env bash
# fast_recipe_bench.sh - `cassnn train --recipe fast` against the same recipe
# in PyTorch (bench/fast_recipe_torch.py), in one run, several seeds each, on
# MNIST and Fashion-MNIST: wall time, mean and worst test accuracy.
#
# Usage: bench/fast_recipe_bench.sh [BUILD_DIR]   (default: build)
# Needs: the node up ($CASSNN_HOST), $CASSNN_DATA (default /work/shared/data)
# with mnist/*.gz and fashion/*.gz, Debian's /usr/bin/python3 with torch.
#
# SEEDS=N          seeds 1..N per program and dataset (default 5)
# TORCH_THREADS    PyTorch thread counts to run, e.g. "1 2" (default "1":
#                  on this shared machine 2 threads took 7x the CPU time of 1);
#                  every count gets its own row; OpenBLAS gets as many
#                  (unpinned, its threads doubled PyTorch's CPU time)
# BENCH_KEEP=1     keep the bench keyspaces (ingesting them again is skipped)
# MNIST_KS, FASHION_KS  use these keyspaces instead (ingested when their
#                  tables are missing; never dropped)
#
# What each figure is:
#   cassnn   the wall time of the whole command: connecting, the token-range
#            scans of raw_train + raw_test (blob layout, and MNIST's
#            list<int> layout too), 2 epochs, the test, the checkpoint rows
#            waited for; 2 threads (the online CPUs)
#   PyTorch  the same recipe on the same images read from the IDX files
#            into one tensor first; "train+test" is its training and test
#            time without that loading and without Python's start
#   CPU time user + system seconds of the cassnn process (not the node's), or
#            of the PyTorch process during training and test: steadier
#            than wall time on a shared machine
set -euo pipefail

BUILD=${1:-build}
CASSNN="$BUILD/cassnn"
[ -x "$CASSNN" ] || { echo "no cassnn in $BUILD: build first" >&2; exit 1; }
DATA=${CASSNN_DATA:-/work/shared/data}
export CASSNN_DATA=$DATA
SEEDS=${SEEDS:-5}
TORCH_THREADS=${TORCH_THREADS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
LOG=$(mktemp -d /tmp/fast_recipe_bench.XXXXXX)
declare -A KS=([mnist]=${MNIST_KS:-cassnn_bench_fast_mnist}
              [fashion]=${FASHION_KS:-cassnn_bench_fast_fashion})

now() { date +%s.%N; }
drop() { "$CASSNN" cql "DROP KEYSPACE IF EXISTS $1" >/dev/null; }
cleanup() {
    [ "${BENCH_KEEP:-0}" = 1 ] && return
    [ -n "${MNIST_KS:-}" ] || drop "${KS[mnist]}"
    [ -n "${FASHION_KS:-}" ] || drop "${KS[fashion]}"
}
trap cleanup EXIT

# ingested: both ends of the test table are there (count(*) over the
# list<int> table failed on a busy node)
ingested() {
    "$CASSNN" cql "SELECT id FROM $1 WHERE id IN (0, 9999)" 2>/dev/null | grep -q '^(2 rows)'
}

echo "== $(date -u '+%F %T') UTC, $(nproc) cores, load: $(uptime | sed 's/.*load average: //')"
for ds in mnist fashion; do
    ks=${KS[$ds]}
    layouts=(blob)
    if [ "$ds" = mnist ]; then layouts+=(tutorial); fi
    for layout in "${layouts[@]}"; do
        table=$ks.raw_test
        [ "$layout" = tutorial ] || table+=_blob
        if ingested "$table"; then continue; fi
        echo "== ingest $ds ($layout layout) into $ks"
        "$CASSNN" ingest --dataset "$ds" --keyspace "$ks" --layout "$layout" >/dev/null
    done
done

# summary LABEL FILE: mean and worst accuracy, mean and worst time, mean
# CPU time of the "accuracy seconds cpu-seconds" lines of FILE
summary() {
    awk -v label="$1" '{ n++; s += $1; t += $2; c += $3; if (n == 1 || $1 < w) w = $1; if ($2 > tw) tw = $2 }
        END { printf "| %s | %d | %.2f%% | %.2f%% | %.2f s | %.2f s | %.2f s |\n", label, n, s / n, w, t / n, tw, c / n }' "$2"
}

cassnn_runs() { # dataset label, then train args
    local ds=$1 label=$2; shift 2
    local out="$LOG/cassnn.$ds.$label"
    : >"$out"
    for seed in $(seq 1 "$SEEDS"); do
        local t0 t1 log="$LOG/cassnn.$ds.$label.$seed.log"
        t0=$(now)
        /usr/bin/time -f "%U %S" -o "$log.cpu" \
            "$CASSNN" train --recipe fast --keyspace "${KS[$ds]}" --seed "$seed" "$@" >"$log" 2>&1
        t1=$(now)
        local acc cpu
        acc=$(grep -o 'final accuracy [0-9]*/[0-9]* ([0-9.]*%)' "$log" | grep -o '([0-9.]*' | tr -d '(')
        cpu=$(awk '{ print $1 + $2 }' "$log.cpu")
        echo "$acc $(echo "$t1 - $t0" | bc) $cpu" >>"$out"
        echo "  cassnn $ds $label seed $seed: $acc% in $(echo "$t1 - $t0" | bc) s, $cpu CPU-s" >&2
    done
    summary "cassnn, $label" "$out"
}

torch_runs() { # dataset threads
    local ds=$1 threads=$2 out="$LOG/torch.$ds.$2"
    : >"$out"
    for seed in $(seq 1 "$SEEDS"); do
        local line
        line=$(OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 "$HERE/fast_recipe_torch.py" --data "$DATA/$ds" --dataset "$ds" \
            --seed "$seed" --threads "$threads")
        local acc train test cpu
        acc=$(sed 's/.*accuracy=\([0-9.]*\).*/\1/' <<<"$line")
        train=$(sed 's/.*train_s=\([0-9.]*\).*/\1/' <<<"$line")
        test=$(sed 's/.*test_s=\([0-9.]*\).*/\1/' <<<"$line")
        cpu=$(sed 's/.*cpu_s=\([0-9.]*\).*/\1/' <<<"$line")
        echo "$acc $(echo "$train + $test" | bc) $cpu" >>"$out"
        echo "  torch $ds threads $threads seed $seed: $acc% in $train + $test s, $cpu CPU-s" >&2
    done
    summary "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), set_num_threads($threads) + OPENBLAS_NUM_THREADS=$threads, train+test only" "$out"
}

# ratio CASSNN_FILE TORCH_FILE THREADS: PyTorch's mean wall and CPU time over cassnn's
ratio() {
    awk -v threads="$3" 'FNR == 1 { f++ } { t[f] += $2; c[f] += $3; n[f]++ }
        END { printf "PyTorch (%d thread) / cassnn (blob layout, whole command): %.2fx the time, %.2fx the CPU time\n",
              threads, (t[2] / n[2]) / (t[1] / n[1]), (c[2] / n[2]) / (c[1] / n[1]) }' "$1" "$2"
}

for ds in mnist fashion; do
    echo
    echo "$ds, $SEEDS seeds (1..$SEEDS):"
    echo
    echo "| program | seeds | mean accuracy | worst | mean time | slowest | mean CPU time |"
    echo "|---|---|---|---|---|---|---|"
    cassnn_runs "$ds" "whole command, blob layout" --train-table raw_train_blob --test-table raw_test_blob
    if [ "$ds" = mnist ]; then cassnn_runs "$ds" "whole command, list<int> layout"; fi
    for t in $TORCH_THREADS; do torch_runs "$ds" "$t"; done
    echo
    for t in $TORCH_THREADS; do
        ratio "$LOG/cassnn.$ds.whole command, blob layout" "$LOG/torch.$ds.$t" "$t"
    done
done
echo
echo "== done $(date -u '+%T') UTC, load: $(uptime | sed 's/.*load average: //'); logs in $LOG"
