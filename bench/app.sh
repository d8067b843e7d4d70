#!/usr/bin/env bash
# Benchmark the desktop app under Xvfb (software rendering), against a real signal server and a
# demo stranger in a separate process, so the numbers exclude the bot:
#   - idle: the window open, connected to the server, no call: CPU share of one core
#   - call: a 640x480@30 H.264 + Opus call with the stranger: CPU share of one core, RSS
#   - frame times: the app's own ui() time per frame (p50/p99/max) and eframe's frame CPU time
# Prints one line per run and the medians. RUNS=3 SECS=20 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECS=${SECS:-20}
PROFILE=${PROFILE:-release}
cargo build --locked --profile "$PROFILE" -p strangers-client --bin strangers
cargo build --locked --profile "$PROFILE" -p signal-server --bin signal-server
DIR=${CARGO_TARGET_DIR:-target}/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
OUT=$(mktemp -d)
export HOME="$OUT/home"; mkdir -p "$HOME"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
# CPU ticks per thread name (llvmpipe-0, video-decode, ...), one "name ticks" line each.
thread_ticks() { for t in /proc/"$1"/task/*; do echo "$(cat "$t/comm") $(awk '{print $14+$15}' "$t/stat")"; done | awk '{a[$1]+=$2} END{for (k in a) print k, a[k]}' | sort; }
HZ=$(getconf CLK_TCK)

results=()
for run in $(seq "$RUNS"); do
  port=$(free_port)
  "$DIR/signal-server" --listen "127.0.0.1:$port" >/dev/null 2>&1 & server=$!
  sleep 0.5
  xvfb-run -a -s "-screen 0 1280x800x24" "$DIR/strangers" --server "ws://127.0.0.1:$port/" --synthetic --fresh \
    >"$OUT/app.log" 2>&1 & xvfb=$!
  app=""
  for _ in $(seq 100); do app=$(pgrep -n -f "^$DIR/strangers --server ws://127.0.0.1:$port/" || true); [ -n "$app" ] && break; sleep 0.1; done
  [ -n "$app" ] || { echo "app did not start" >&2; exit 1; }
  sleep 5  # startup, fonts, first frames
  t0=$(cpu_ticks "$app"); sleep "$SECS"; t1=$(cpu_ticks "$app")
  idle=$(python3 -c "print(round(100*($t1-$t0)/$HZ/$SECS, 2))")
  kill -TERM "$app"; wait "$xvfb" || true

  xvfb-run -a -s "-screen 0 1280x800x24" "$DIR/strangers" --server "ws://127.0.0.1:$port/" --synthetic --fresh --start \
    >"$OUT/app.log" 2>&1 & xvfb=$!
  "$DIR/strangers" --bot --server "ws://127.0.0.1:$port/" >/dev/null 2>&1 & bot=$!
  app=""
  for _ in $(seq 100); do app=$(pgrep -n -f "^$DIR/strangers --server ws://127.0.0.1:$port/ --synthetic --fresh --start" || true); [ -n "$app" ] && break; sleep 0.1; done
  for _ in $(seq 300); do grep -q "call connected" "$OUT/app.log" && break; sleep 0.1; done
  grep -q "call connected" "$OUT/app.log" || { echo "no call" >&2; tail "$OUT/app.log" >&2; exit 1; }
  sleep 3
  thread_ticks "$app" >"$OUT/threads0"
  t0=$(cpu_ticks "$app"); sleep "$SECS"; t1=$(cpu_ticks "$app")
  thread_ticks "$app" >"$OUT/threads1"
  call=$(python3 -c "print(round(100*($t1-$t0)/$HZ/$SECS, 1))")
  rss=$(( $(rss_kib "$app") / 1024 ))
  kill -TERM "$app"; wait "$xvfb" || true
  kill "$bot" "$server" 2>/dev/null || true; wait "$bot" "$server" 2>/dev/null || true
  frames=$(grep "ui frame times" "$OUT/app.log" | sed 's/.*frames=//' || true)
  echo "run $run: idle ${idle}% of a core; call ${call}% of a core, RSS ${rss} MiB; $frames"
  echo "  call CPU by thread: $(join "$OUT/threads0" "$OUT/threads1" | awk -v hz="$HZ" -v s="$SECS" '{d=100*($3-$2)/hz/s; if (d >= 0.5) printf "%s %.1f%%  ", $1, d}')"
  results+=("$idle $call $rss $(echo "$frames" | sed -E 's/ui p50 ([0-9.]+) ms p99 ([0-9.]+) ms max ([0-9.]+) ms.*frame cpu p50 ([0-9.]+) ms p99 ([0-9.]+) ms/\1 \2 \3 \4 \5/')")
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics as st
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
cols = list(zip(*rows))
names = ["idle CPU % of a core", "call CPU % of a core", "RSS MiB in a call", "ui() p50 ms", "ui() p99 ms", "ui() max ms", "frame CPU p50 ms", "frame CPU p99 ms"]
print("| metric (median of %d runs) | value |" % len(rows)); print("|---|---:|")
for n, c in zip(names, cols): print("| %s | %g |" % (n, st.median(c)))
'
rm -rf "$OUT"
