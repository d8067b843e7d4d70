#!/usr/bin/env bash
# Benchmark signal-server nodes sharing one queue over Redis, with the load generator's random-
# matching sessions (hello, find with an interest only the two share, matched, 3 KB offer and
# answer, 4 candidates each way, close) spread over the nodes (with n nodes, (n-1)/n of the
# sessions have their two sides on different nodes). Configurations: 1 node without Redis,
# 1 node with, 2 and 4 nodes with. Prints a markdown table of medians over RUNS runs.
#
#   bench/cluster.sh            # RUNS=3; CLOSED_SECS, CONCURRENCY, OPEN_RATE, OPEN_SECS, IDLE_CONNS
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
CLOSED_SECS=${CLOSED_SECS:-5}
CONCURRENCY=${CONCURRENCY:-64}
OPEN_RATE=${OPEN_RATE:-500}
OPEN_SECS=${OPEN_SECS:-5}
IDLE_CONNS=${IDLE_CONNS:-10000}
OUT=${OUT:-target/bench-cluster-$(date +%Y%m%d-%H%M%S).jsonl}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || scripts/setup.sh
cargo build --profile dist --locked -p signal-server -p strangers-bench --bins
BIN=${CARGO_TARGET_DIR:-target}/dist
mkdir -p target
: > "$OUT"

# shellcheck source=bench/lib.sh
. bench/lib.sh

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
RPID=$!; PIDS+=("$RPID")
wait_port "$RPORT"
REDIS="redis://127.0.0.1:$RPORT/"
commands() { redis-cli -p "$RPORT" info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p'; }

start_nodes() { # count with_redis → sets NODE_PIDS, URLS
  NODE_PIDS=(); URLS=()
  redis-cli -p "$RPORT" flushall >/dev/null
  for _ in $(seq "$1"); do
    local port; port=$(free_port)
    local extra=()
    [ "$2" = redis ] && extra=(--redis "$REDIS")
    RUST_LOG=warn "$BIN/signal-server" --listen "127.0.0.1:$port" --in-memory --max-connections 19000 "${extra[@]}" >/dev/null 2>&1 &
    NODE_PIDS+=("$!"); PIDS+=("$!"); URLS+=("ws://127.0.0.1:$port/")
    wait_port "$port"
  done
  sleep 1.5  # a heartbeat, so that every node knows the others
}
stop_nodes() { for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }

loadgen() { # config mode args...
  local config=$1; shift
  local args=(--protocol random --label "$config")
  for u in "${URLS[@]}"; do args+=(--url "$u"); done
  for p in "${NODE_PIDS[@]}"; do args+=(--server-pid "$p"); done
  args+=(--redis-pid "$RPID")
  local before after json
  before=$(commands)
  json=$("$BIN/loadgen" "${args[@]}" "$@" | tee /dev/stderr | sed -n 's/^JSON //p')
  after=$(commands)
  # Commands the loadgen's sessions caused (a node's 1 s heartbeat adds a few per second).
  python3 -c 'import json,sys; r=json.loads(sys.argv[5]); r["run"]=int(sys.argv[1]); r["kind"]=sys.argv[2]; r["redis_commands"]=int(sys.argv[4])-int(sys.argv[3]); print(json.dumps(r))' \
    "$RUN" "$1" "$before" "$after" "$json" >> "$OUT"
}

for RUN in $(seq "$RUNS"); do
  for config in "1 none" "1 redis" "2 redis" "4 redis"; do
    read -r n r <<<"$config"
    start_nodes "$n" "$r"
    loadgen "$n-$r" closed --concurrency "$CONCURRENCY" --duration "$CLOSED_SECS"
    loadgen "$n-$r" open --rate "$OPEN_RATE" --duration "$OPEN_SECS"
    stop_nodes
  done
done
# Idle memory of one node with Redis on (connections alone in rooms, as in bench/run.sh), a
# fresh node each run: RSS after a burst of joins varies from run to run, so the median counts.
for RUN in $(seq "$RUNS"); do
  start_nodes 1 redis
  "$BIN/loadgen" --url "${URLS[0]}" --server-pid "${NODE_PIDS[0]}" --label "1-redis" idle --connections "$IDLE_CONNS" \
    | tee /dev/stderr | sed -n 's/^JSON //p' >> "$OUT"
  stop_nodes
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None
def pick(label, kind, f):
    return med([f(r["result"], r) for r in rows if r.get("label") == label and r.get("kind") == kind])
configs = ["1-none", "1-redis", "2-redis", "4-redis"]
fmt = lambda v, d=0: "-" if v is None else f"{v:.{d}f}"
print("| metric (median) | " + " | ".join(configs) + " |")
print("|---|" + "---:|" * len(configs))
lines = [
    ("sessions/s, closed loop", lambda c: pick(c, "closed", lambda r, _: r["sessions_per_sec"]), 0),
    ("nodes' CPU ms/session, closed loop", lambda c: pick(c, "closed", lambda r, _: r["server_cpu_ms_per_session"]), 3),
    ("Redis CPU ms/session, closed loop", lambda c: pick(c, "closed", lambda r, _: r["redis_cpu_ms_per_session"]), 3),
    ("Redis commands/session", lambda c: pick(c, "closed", lambda r, row: row["redis_commands"] / max(r["sessions"], 1)), 1),
    ("sessions across nodes", lambda c: pick(c, "closed", lambda r, _: r["cross_share"]), 2),
    ("hop p50 µs same node, 500/s", lambda c: pick(c, "open", lambda r, _: r["same_hop_us"]["p50"]), 0),
    ("hop p99 µs same node, 500/s", lambda c: pick(c, "open", lambda r, _: r["same_hop_us"]["p99"]), 0),
    ("hop p50 µs across nodes, 500/s", lambda c: pick(c, "open", lambda r, _: r["cross_hop_us"]["p50"]), 0),
    ("hop p99 µs across nodes, 500/s", lambda c: pick(c, "open", lambda r, _: r["cross_hop_us"]["p99"]), 0),
    ("failed sessions (all runs)", lambda c: sum(r["result"]["failed"] for r in rows if r.get("label") == c and "failed" in r["result"] and r.get("kind")), 0),
]
for name, f, d in lines:
    print(f"| {name} | " + " | ".join(fmt(f(c), d) for c in configs) + " |")
idle = [r["result"]["bytes_per_connection"] for r in rows if r.get("mode") == "idle"]
if idle:
    conns = [r["result"]["connections"] for r in rows if r.get("mode") == "idle"][0]
    runs = ", ".join(f"{v:.0f}" for v in idle)
    print(f"\nidle bytes/connection, 1 node with Redis ({conns} connections): median {med(idle):.0f} of {runs}")
PY
