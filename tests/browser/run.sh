#!/usr/bin/env bash
# run.sh CASSNN ARTIFACTS - the browser test: a keyspace of MNIST (blob
# layout) with the tutorial net trained for one epoch, and a Fashion-MNIST
# subset beside it for the report; `cassnn serve` on the test subnet; then
# page_and_report.mjs in Debian's Chromium. Needs tests/browser/install.
set -euo pipefail
cassnn=$1
artifacts=$2
here=$(cd "$(dirname "$0")" && pwd)
data=${CASSNN_DATA:?CASSNN_DATA must point at the datasets}
addr="${CASSNN_SUBNET:-127.0.0}.1"
ks=cassnn_test_browser
ks2=cassnn_test_browser_fashion
[ -x /usr/bin/chromium ] || { echo "browser test: /usr/bin/chromium missing: run tests/browser/install" >&2; exit 1; }
[ -d "$here/node_modules/playwright-core" ] || { echo "browser test: playwright-core missing: run tests/browser/install" >&2; exit 1; }
mkdir -p "$artifacts"
log=$artifacts/serve.log
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    "$cassnn" cql "DROP KEYSPACE IF EXISTS $ks" >/dev/null 2>&1 || true
    "$cassnn" cql "DROP KEYSPACE IF EXISTS $ks2" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$cassnn" cql "DROP KEYSPACE IF EXISTS $ks" >/dev/null
"$cassnn" ingest --dataset mnist --keyspace "$ks" --layout blob >/dev/null
"$cassnn" train --keyspace "$ks" --train-table raw_train_blob --test-table raw_test_blob \
    --epochs 1 --log-interval 50 | tail -n 2
# a small Fashion-MNIST keyspace for the report's comparison
"$cassnn" cql "DROP KEYSPACE IF EXISTS $ks2" >/dev/null
idx=$artifacts/fashion_idx
mkdir -p "$idx"
/usr/bin/python3 - "$data/fashion" "$idx" <<'PY'
import gzip, struct, sys
src, dst = sys.argv[1], sys.argv[2]
for prefix, n in (("train", 3000), ("t10k", 500)):
    for kind, head in (("images-idx3-ubyte", 16), ("labels-idx1-ubyte", 8)):
        raw = gzip.open(f"{src}/{prefix}-{kind}.gz").read()
        size = 784 if kind.startswith("images") else 1
        out = bytearray(raw[:head]); out[4:8] = struct.pack(">I", n)
        open(f"{dst}/{prefix}-{kind}", "wb").write(bytes(out) + raw[head:head + n * size])
PY
"$cassnn" ingest --idx "$idx" --keyspace "$ks2" --layout blob >/dev/null
"$cassnn" train --keyspace "$ks2" --train-table raw_train_blob --test-table raw_test_blob \
    --epochs 2 --lr 0.05 --log-interval 10 | tail -n 1
"$cassnn" report --keyspace "$ks" --compare "$ks2" -o "$artifacts/report.html"

"$cassnn" serve --keyspace "$ks" --listen "$addr:0" >"$log" 2>&1 &
pid=$!
port=
for _ in $(seq 1 300); do
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$log")
    grep -q "ready" "$log" && [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
done
grep -q "ready" "$log" || { echo "browser test: cassnn serve did not get ready:" >&2; cat "$log" >&2; exit 1; }
node "$here/page_and_report.mjs" "http://$addr:$port" "$artifacts/report.html" "$data/mnist" "$artifacts"
