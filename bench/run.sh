#!/usr/bin/env bash
# Benchmark the Strangers signal server against a Node `ws` baseline, in the same run, with the
# same load generator, on 127.0.0.1 only. Prints a markdown table of medians over RUNS runs.
#
#   bench/run.sh            # RUNS=5 by default; CLOSED_SECS, OPEN_RATE, OPEN_SECS, IDLE_CONNS tune it
#   FLOOR=1 bench/run.sh    # also measure `floor`, a bare tokio-tungstenite relay (see its docs)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
CLOSED_SECS=${CLOSED_SECS:-5}
CONCURRENCY=${CONCURRENCY:-64}
OPEN_RATE=${OPEN_RATE:-500}
OPEN_SECS=${OPEN_SECS:-5}
IDLE_CONNS=${IDLE_CONNS:-10000}
OUT=${OUT:-target/bench-$(date +%Y%m%d-%H%M%S).jsonl}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v node >/dev/null || { echo "bench: node is required for the baseline" >&2; exit 1; }
cargo build --profile dist --locked -p signal-server -p strangers-bench --bins
(cd bench/node-ws && npm ci --no-audit --no-fund --silent)
mkdir -p target
: > "$OUT"

# shellcheck source=bench/lib.sh
. bench/lib.sh

start_server() { # name → sets SPID and SURL
  local port; port=$(free_port)
  if [ "$1" = strangers ]; then
    RUST_LOG=warn ${CARGO_TARGET_DIR:-target}/dist/signal-server --listen "127.0.0.1:$port" --max-connections 19000 >/dev/null 2>&1 &
  elif [ "$1" = floor ]; then
    ${CARGO_TARGET_DIR:-target}/dist/floor "127.0.0.1:$port" >/dev/null 2>&1 &
  else
    node bench/node-ws/server.js "$port" >/dev/null 2>&1 &
  fi
  SPID=$!; PIDS+=("$SPID"); SURL="ws://127.0.0.1:$port/"
  wait_port "$port"
}
stop_server() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }

loadgen() { # name mode args...
  local name=$1; shift
  ${CARGO_TARGET_DIR:-target}/dist/loadgen --url "$SURL" --server-pid "$SPID" --label "$name" "$@" | tee /dev/stderr | sed -n 's/^JSON //p' \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["run"]=int(sys.argv[1]); r["kind"]=sys.argv[2]; print(json.dumps(r))' "$RUN" "$1" >> "$OUT"
}

SERVERS="strangers node"
[ "${FLOOR:-0}" = 1 ] && SERVERS="strangers node floor"
for RUN in $(seq "$RUNS"); do
  for name in $SERVERS; do
    start_server "$name"
    loadgen "$name" closed --concurrency "$CONCURRENCY" --duration "$CLOSED_SECS"
    loadgen "$name" open --rate "$OPEN_RATE" --duration "$OPEN_SECS"
    stop_server
    # The floor keeps a 16 KiB read buffer per connection and no memory economy: not a reference.
    [ "$name" = floor ] && continue
    start_server "$name"
    loadgen "$name" idle --connections "$IDLE_CONNS"
    stop_server
  done
done

python3 bench/summarize.py "$OUT"
echo "raw results: $OUT"
