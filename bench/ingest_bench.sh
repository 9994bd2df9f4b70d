#!/usr/bin/env bash
# ingest_bench.sh - full MNIST (70,000 rows) into a fresh keyspace, cassnn vs a
# Python loader (cassandra-driver, prepared + execute_concurrent_with_args), in
# the same run, against the same node.
#
# Usage: bench/ingest_bench.sh [BUILD_DIR]   (default: build)
# Needs: the node up (cassnn cluster start), $CASSNN_DATA (default
# /work/shared/data) holding mnist/*.gz and make_kaggle_csv.py, and a python3
# with cassandra-driver (the pyenv one on PATH).
#
# Each timing is the wall time of the whole command: reading + validating the
# input and writing it, for both loaders. Every run starts from a dropped
# keyspace, so nothing is an overwrite of existing rows.
set -euo pipefail
# The reference client: the official Python driver from PyPI (bench/requirements.txt).
python3 -c "import cassandra" 2>/dev/null || python3 -m pip install -q -r "$(dirname "$0")/requirements.txt"

BUILD=${1:-build}
CASSNN="$BUILD/cassnn"
DATA=${CASSNN_DATA:-/work/shared/data}
HOST=${CASSNN_HOST:-127.0.0.1}
PORT=${CASSNN_PORT:-9042}
KS=cassnn_bench_ingest
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/cassnn-ingest-bench-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

[ -x "$CASSNN" ] || { echo "no $CASSNN: build first (cmake --build $BUILD)" >&2; exit 1; }

drop_keyspace() {
    python3 - "$HOST" "$PORT" "$KS" <<'EOF'
import sys
from cassandra.cluster import Cluster
c = Cluster([sys.argv[1]], port=int(sys.argv[2]))
s = c.connect()
s.execute(f"DROP KEYSPACE IF EXISTS {sys.argv[3]}", timeout=120)
c.shutdown()
EOF
}

fresh_keyspace() {
    drop_keyspace
    "$CASSNN" schema --keyspace "$KS" "$@" >/dev/null
}

now() { date +%s.%N; }

# seconds rows -> "S s, R rows/s"
rate() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.2f s, %.0f rows/s", s, n / s }'; }

echo "== input: MNIST IDX ($DATA/mnist) and Kaggle-style CSVs made from it"
python3 "$DATA/make_kaggle_csv.py" "$DATA/mnist" "$TMP/kaggle" >/dev/null

declare -A SECONDS_OF
run() { # name rows command...
    local name=$1 rows=$2
    shift 2
    local t0 t1
    t0=$(now)
    "$@" >"$TMP/$name.log" 2>&1 || { cat "$TMP/$name.log" >&2; echo "$name failed" >&2; exit 1; }
    t1=$(now)
    SECONDS_OF[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    printf '%-28s %6d rows  %s\n' "$name" "$rows" "$(rate "${SECONDS_OF[$name]}" "$rows")"
}

fresh_keyspace
run "cassnn IDX" 70000 "$CASSNN" ingest --keyspace "$KS" --idx "$DATA/mnist"
fresh_keyspace
run "cassnn CSV" 70000 "$CASSNN" ingest --keyspace "$KS" --train "$TMP/kaggle/train.csv" \
    --predict "$TMP/kaggle/test.csv"
fresh_keyspace --layout blob
run "cassnn IDX, blob layout" 70000 "$CASSNN" ingest --keyspace "$KS" --idx "$DATA/mnist" \
    --layout blob
fresh_keyspace
run "python IDX" 70000 python3 "$HERE/ingest_bench_python.py" --keyspace "$KS" \
    --idx "$DATA/mnist" --host "$HOST" --port "$PORT"
fresh_keyspace
run "python CSV" 70000 python3 "$HERE/ingest_bench_python.py" --keyspace "$KS" \
    --train "$TMP/kaggle/train.csv" --predict "$TMP/kaggle/test.csv" --host "$HOST" --port "$PORT"
fresh_keyspace --layout blob
run "python IDX, blob layout" 70000 python3 "$HERE/ingest_bench_python.py" --keyspace "$KS" \
    --idx "$DATA/mnist" --layout blob --host "$HOST" --port "$PORT"
drop_keyspace

ratio() { awk -v a="${SECONDS_OF[$1]}" -v b="${SECONDS_OF[$2]}" 'BEGIN { printf "%.1fx", a / b }'; }
echo "speed-up IDX: cassnn is $(ratio "python IDX" "cassnn IDX") the Python loader"
echo "speed-up CSV: cassnn is $(ratio "python CSV" "cassnn CSV") the Python loader"
echo "speed-up IDX, blob layout: cassnn is $(ratio "python IDX, blob layout" "cassnn IDX, blob layout") the Python loader"
echo "blob layout vs tutorial layout (cassnn IDX): $(ratio "cassnn IDX" "cassnn IDX, blob layout")"
echo "(machine: $(nproc) cores, shared with other work; one run each)"
