#!/usr/bin/env bash
# serve_bench.sh - `cassnn serve` against FastAPI + PyTorch for the same net,
# in the same run: wrk on loopback POSTs one MNIST test image as JSON to
# /predict over 32 and 64 keep-alive connections; requests/s, p50, p99 and
# errors for each, and the ratios. cassnn also runs with --max-batch 1 (no
# dynamic batching) to show what batching brings.
#
# Usage: bench/serve_bench.sh [BUILD_DIR] [SECONDS]   (defaults: build, 10)
# Needs: a node at $CASSNN_HOST, $CASSNN_DATA/mnist/*.gz. Installs what only
# this benchmark needs: wrk (Debian) and a venv with fastapi + uvicorn
# (bench/requirements-serve.txt) over Debian's python3-torch.
#
# wrk, the server and (for FastAPI) its 2 workers all share the machine's
# cores: the numbers are for the whole machine, as a user would see them.
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
cassnn=$(cd "$BUILD" && pwd)/cassnn
addr="${CASSNN_SUBNET:-127.0.0}.1"
export CASSNN_DATA=${CASSNN_DATA:-/work/shared/data}
ks=cassnn_bench_serve
[ -x "$cassnn" ] || { echo "no $cassnn: build first" >&2; exit 1; }

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends wrk
venv=$(cd "$BUILD" && pwd)/serve-bench-venv
if [ ! -x "$venv/bin/uvicorn" ]; then
    /usr/bin/python3 -m venv --system-site-packages "$venv"
    "$venv/bin/pip" install -q -r "$HERE/requirements-serve.txt"
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The tutorial net after one epoch of MNIST (made once, kept for later runs).
if ! id=$("$cassnn" models best --keyspace $ks 2>/dev/null); then
    "$cassnn" ingest --dataset mnist --keyspace $ks --layout blob >/dev/null
    "$cassnn" train --keyspace $ks --train-table raw_train_blob --test-table raw_test_blob \
        --epochs 1 --log-interval 100 | tail -n 1
    id=$("$cassnn" models best --keyspace $ks)
fi
"$cassnn" models export "$id" "$work/model.safetensors" --keyspace $ks >/dev/null
/usr/bin/python3 - "$CASSNN_DATA/mnist/t10k-images-idx3-ubyte.gz" "$work/one.json" <<'PY'
import gzip, json, sys
pixels = list(gzip.open(sys.argv[1]).read()[16:16 + 784])
json.dump({"pixels": pixels}, open(sys.argv[2], "w"))
PY
cat > "$work/post.lua" <<LUA
local f = io.open("$work/one.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

free_port() { /usr/bin/python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$addr"; }

wait_http() { # URL PID
    for _ in $(seq 1 600); do
        curl -sf -o /dev/null "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# wrk for SECS at CONNS connections: "req/s p50_ms p99_ms errors"
measure() { # URL CONNS
    wrk -t2 -c"$2" -d2s -s "$work/post.lua" "$1" >/dev/null 2>&1 # warm-up
    local out
    out=$(wrk -t2 -c"$2" -d"${SECS}s" --latency -s "$work/post.lua" "$1" 2>&1)
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx/ { errors += $NF }
        /Socket errors/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
        END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, errors }' <<<"$out"
}

start_cassnn() { # extra flags...
    local log=$work/cassnn.log
    "$cassnn" serve --keyspace $ks --model "$id" --listen "$addr:0" "$@" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 600); do grep -q ready "$log" && break; sleep 0.1; done
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$log")
    url="http://$addr:$port"
}

stop_last() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); model $id; ${SECS}s per run"
declare -A R
printf "%-34s %5s %9s %8s %8s %7s\n" server conns "req/s" "p50 ms" "p99 ms" errors
row() { printf "%-34s %5s %9s %8s %8s %7s\n" "$1" "$2" $3; }

start_cassnn
for c in 32 64; do R[cassnn_$c]=$(measure "$url/predict" $c); row "cassnn serve (batching)" $c "${R[cassnn_$c]}"; done
batch=$(curl -s "$url/metrics" | awk '/^cassnn_batch_size_sum/ {s=$2} /^cassnn_batch_size_count/ {n=$2} END {if (n) printf "%.1f", s/n}')
stop_last
start_cassnn --max-batch 1
for c in 32 64; do R[single_$c]=$(measure "$url/predict" $c); row "cassnn serve --max-batch 1" $c "${R[single_$c]}"; done
stop_last

port=$(free_port)
(cd "$HERE" && MODEL="$work/model.safetensors" MODEL_ID="$id" exec "$venv/bin/uvicorn" serve_bench_fastapi:app \
    --host "$addr" --port "$port" --workers 2 --log-level warning) &
pids+=($!)
wait_http "http://$addr:$port/docs" "${pids[-1]}" || { echo "FastAPI server did not start" >&2; exit 1; }
curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$work/one.json" "http://$addr:$port/predict" >/dev/null
for c in 32 64; do R[fastapi_$c]=$(measure "http://$addr:$port/predict" $c); row "FastAPI + PyTorch (2 workers)" $c "${R[fastapi_$c]}"; done
stop_last

echo "cassnn with batching: ${batch} images per forward pass on average"
for c in 32 64; do
    read -r a _ _ _ <<<"${R[cassnn_$c]}"
    read -r s _ _ _ <<<"${R[single_$c]}"
    read -r f _ _ _ <<<"${R[fastapi_$c]}"
    awk -v a="$a" -v s="$s" -v f="$f" -v c="$c" 'BEGIN {
        printf "%d connections: cassnn / FastAPI+PyTorch %.1fx; batching / --max-batch 1 %.2fx\n", c, a / f, a / s }'
done
