#!/usr/bin/env bash
# cql_bench.sh - cassnn's CQL client vs the official Python driver, same run,
# same node, same statements: insert the 70,000 MNIST rows (prepared, bounded
# concurrency), then scan them back page by page. Prints both, the ratios and
# both processes' CPU seconds.
#
# usage: bench/cql_bench.sh [BUILD_DIR] [CONCURRENCY] [PAGE_SIZE]
#   (defaults: build, 256, 1000). Needs the node up, $CASSNN_DATA (default
#   /work/shared/data) with mnist/*.gz, and python3 with cassandra-driver.
# Each client uses its own keyspace (cassnn_bench, cassnn_bench_py) whose
# tables it drops and re-creates, so both write fresh rows.
set -euo pipefail
# The reference client: the official Python driver from PyPI (bench/requirements.txt).
python3 -c "import cassandra" 2>/dev/null || python3 -m pip install -q -r "$(dirname "$0")/requirements.txt"
BUILD=${1:-build}
CONC=${2:-256}
PAGE=${3:-1000}
HOST=${CASSNN_HOST:-127.0.0.1}
PORT=${CASSNN_PORT:-9042}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN="$BUILD/bench/cql_bench"
[ -x "$BIN" ] || { echo "no $BIN: build first (cmake --build $BUILD --target cql_bench)" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BIN" --host "$HOST" --port "$PORT" --concurrency "$CONC" --page-size "$PAGE" | tee -a "$out"
python3 "$HERE/cql_bench_python.py" --host "$HOST" --port "$PORT" --concurrency "$CONC" --page-size "$PAGE" | tee -a "$out"
awk '
  { for (i = 3; i <= NF; i++) { split($i, kv, "="); v[$1 " " $2 " " kv[1]] = kv[2] } }
  END {
    for (p = 1; p <= 2; p++) {
      ph = (p == 1) ? "insert" : "scan"
      c = v["cassnn " ph " rows_per_s"]; py = v["python " ph " rows_per_s"]
      printf "%-6s cassnn %8.0f rows/s  python %8.0f rows/s  ratio %.2fx   cpu: cassnn %.2f s, python %.2f s (%.1f us/row vs %.1f us/row)\n",
        ph, c, py, c / py, v["cassnn " ph " cpu_s"], v["python " ph " cpu_s"],
        1e6 * v["cassnn " ph " cpu_s"] / v["cassnn " ph " rows"], 1e6 * v["python " ph " cpu_s"] / v["python " ph " rows"]
    }
  }' "$out"
