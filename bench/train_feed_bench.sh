#!/usr/bin/env bash
# train_feed_bench.sh - one epoch of the tutorial's net fed from Cassandra
# against the same epoch fed from memory (IDX files), same binary, same
# machine, same run; then the whole tutorial (ingest + 3 epochs + best +
# predict) timed end to end.
#
# Usage: bench/train_feed_bench.sh [BUILD_DIR]   (default: build)
# Needs: the node up, $CASSNN_DATA (default /work/shared/data) with mnist/*.gz.
#
# What each figure includes (wall time of the whole command):
#   memory     cassnn train --idx: gunzip + parse the IDX files, test, 1 epoch, test
#   cassandra  cassnn train --keyspace: token-range scan of raw_train + raw_test,
#              test, 1 epoch, test, plus the checkpoint rows (written
#              asynchronously, waited for at the end)
#   stream     cassnn train --keyspace --memory-budget 16M: both tables streamed
#              (exact row count by count(*) per token range, then the train
#              table through a shuffle buffer of a fraction of its rows, the
#              test table in token order), test, 1 epoch, test, checkpoints
# so the ratio is "training from Cassandra" against "training from local
# files" for the same work, in both raw-table layouts and both feed modes.
# BENCH_DEMO=0 skips the end-to-end part.
set -euo pipefail

BUILD=${1:-build}
CASSNN="$BUILD/cassnn"
[ -x "$CASSNN" ] || CASSNN="$BUILD/cassnn"
[ -x "$CASSNN" ] || { echo "no cassnn in $BUILD: build first" >&2; exit 1; }
DATA=${CASSNN_DATA:-/work/shared/data}
export CASSNN_DATA=$DATA
KS=cassnn_bench_feed
DEMO_KS=cassnn_bench_demo

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
drop() { "$CASSNN" cql "DROP KEYSPACE IF EXISTS $1" >/dev/null; }
trap 'drop $KS; drop $DEMO_KS' EXIT

echo "== setup: MNIST into $KS, both layouts"
drop $KS
"$CASSNN" ingest --dataset mnist --keyspace $KS >/dev/null
"$CASSNN" ingest --dataset mnist --keyspace $KS --layout blob >/dev/null

epoch() { # label, then train args
    local label=$1; shift
    local t0; t0=$(now)
    "$CASSNN" train --epochs 1 --log-interval 10 "$@" >"/tmp/train_feed_bench.$label.log"
    local s; s=$(elapsed "$t0")
    printf '%-22s %7.2f s   (%s)\n' "$label" "$s" \
        "$(grep -o 'final accuracy.*' "/tmp/train_feed_bench.$label.log")"
    eval "T_$label=$s"
}

echo "== one epoch, tutorial net, batch 64, log interval 10"
epoch memory --idx "$DATA/mnist"
epoch cassandra_blob --keyspace $KS --train-table raw_train_blob --test-table raw_test_blob
epoch cassandra_list --keyspace $KS
epoch stream_blob --keyspace $KS --train-table raw_train_blob --test-table raw_test_blob --memory-budget 16M
epoch stream_list --keyspace $KS --memory-budget 16M
printf 'ratio cassandra(blob)/memory:             %.2fx   (goal <= 1.2x)\n' "$(echo "$T_cassandra_blob / $T_memory" | bc -l)"
printf 'ratio cassandra(list<int>)/memory:         %.2fx\n' "$(echo "$T_cassandra_list / $T_memory" | bc -l)"
printf 'ratio streamed 16M (blob)/memory:          %.2fx\n' "$(echo "$T_stream_blob / $T_memory" | bc -l)"
printf 'ratio streamed 16M (list<int>)/memory:     %.2fx\n' "$(echo "$T_stream_list / $T_memory" | bc -l)"
grep -h '^read ' /tmp/train_feed_bench.cassandra_*.log
grep -h 'shuffle buffer' /tmp/train_feed_bench.stream_*.log
for label in memory cassandra_blob cassandra_list stream_blob stream_list; do
    printf '  %-15s %s\n' "$label" "$(grep -o 'training images in .* training' "/tmp/train_feed_bench.$label.log")"
done
[ "${BENCH_DEMO:-1}" = 0 ] && exit 0

echo "== the tutorial end to end (tutorial layout): ingest + 3 epochs + best + predict"
drop $DEMO_KS
t0=$(now)
"$CASSNN" ingest --dataset mnist --keyspace $DEMO_KS >/dev/null
t_ingest=$(elapsed "$t0")
"$CASSNN" train --keyspace $DEMO_KS >/tmp/train_feed_bench.demo.log
t_train=$(elapsed "$t0")
best=$("$CASSNN" models best --keyspace $DEMO_KS)
"$CASSNN" predict --keyspace $DEMO_KS --id "$best" --table raw_test --quiet >/tmp/train_feed_bench.predict.log
t_all=$(elapsed "$t0")
printf 'ingest %.1f s, +train 3 epochs %.1f s, +best +predict %.1f s total\n' "$t_ingest" "$t_train" "$t_all"
grep -o 'final accuracy.*' /tmp/train_feed_bench.demo.log
grep '^accuracy' /tmp/train_feed_bench.predict.log
