#!/usr/bin/env bash
# cluster_bench.sh - MNIST ingest and one training epoch fed from Cassandra on
# 1 node against 3 nodes (replication 1 and 3, the default consistency:
# LOCAL_ONE at RF 1, LOCAL_QUORUM at RF 3), side by side in one run, with
# the client's CPU per row. A measurement, not a goal: on a small machine
# three JVMs share the cores with the client.
#
# Usage: bench/cluster_bench.sh [BUILD_DIR]   (default: build)
# Needs: $CASSNN_DATA (default /work/shared/data) with mnist/*.gz; the jars
# (tools/cassandra/cassandra-node fetch). Starts throwaway clusters of its own
# on $CASSNN_SUBNET.81.. (default 127.0.0.81..; CASSNN_BENCH_IP_BASE moves
# them) with 1 GiB heaps (CASSNN_HEAP), data in a temporary folder, and
# stops them at the end, also on failure.
#
# Figures (each the whole command, wall time and the client process's user +
# system CPU from bash's `time`):
#   ingest   cassnn ingest --dataset mnist: 70,000 rows written, tutorial layout
#   epoch    cassnn train --epochs 1: both tables read, test, 1 epoch, test,
#            checkpoint rows written
set -euo pipefail

BUILD=${1:-build}
CASSNN="$BUILD/cassnn"
[ -x "$CASSNN" ] || { echo "no cassnn in $BUILD: build first" >&2; exit 1; }
export CASSNN_DATA=${CASSNN_DATA:-/work/shared/data}
export CASSNN_HEAP=${CASSNN_HEAP:-1G}
export CASSNN_IP_BASE=${CASSNN_BENCH_IP_BASE:-81}
export CASSNN_VAR
CASSNN_VAR=$(mktemp -d /tmp/cassnn-cluster-bench-XXXXXX)
export CASSNN_SPOOL=$CASSNN_VAR/spool
NODE="${CASSNN_SUBNET:-127.0.0}.$CASSNN_IP_BASE"
ROWS=70000
node=tools/cassandra/cassandra-node

cleanup() { $node stop >/dev/null 2>&1 || true; rm -rf "$CASSNN_VAR"; }
trap cleanup EXIT

TIMEFORMAT='%R %U %S'
# label, then cassnn args: records wall and CPU seconds in W_label / C_label
measure() {
    local label=$1 t; shift
    t=$( { time "$CASSNN" "$@" --host "$NODE" >"$CASSNN_VAR/$label.log" 2>&1; } 2>&1 ) ||
        { echo "cassnn $* failed:" >&2; tail -5 "$CASSNN_VAR/$label.log" >&2; exit 1; }
    read -r wall user sys <<<"$t"
    eval "W_$label=$wall C_$label=$(echo "$user + $sys" | bc -l)"
}

run_config() { # label, replication
    measure "ingest_$1" ingest --dataset mnist --keyspace "bench_$1" --replication "$2"
    measure "epoch_$1" train --keyspace "bench_$1" --epochs 1 --log-interval 10
}

echo "== 1 node"
$node start -n 1 >/dev/null
run_config n1 1
$node stop >/dev/null
rm -rf "${CASSNN_VAR:?}"/node*

echo "== 3 nodes"
$node start -n 3 >/dev/null
sleep 10 # gossip: every node lists the others before keyspaces are created
run_config n3rf1 1
run_config n3rf3 3
$node stop >/dev/null

printf '\n%-22s %12s %12s %16s %12s %12s %16s\n' config "ingest s" "ingest x1" "ingest CPU us/row" \
    "epoch s" "epoch x1" "epoch CPU us/row"
for c in n1 n3rf1 n3rf3; do
    eval "wi=\$W_ingest_$c ci=\$C_ingest_$c we=\$W_epoch_$c ce=\$C_epoch_$c"
    case $c in n1) name="1 node, RF 1" ;; n3rf1) name="3 nodes, RF 1" ;; *) name="3 nodes, RF 3" ;; esac
    printf '%-22s %12.1f %11.2fx %16.1f %12.1f %11.2fx %16.1f\n' "$name" "$wi" \
        "$(echo "$wi / $W_ingest_n1" | bc -l)" "$(echo "$ci * 1000000 / $ROWS" | bc -l)" \
        "$we" "$(echo "$we / $W_epoch_n1" | bc -l)" "$(echo "$ce * 1000000 / $ROWS" | bc -l)"
done
grep -h "consistency" "$CASSNN_VAR"/ingest_*.log | sed 's/^/  /'
