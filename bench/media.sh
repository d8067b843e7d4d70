#!/usr/bin/env bash
# Benchmark the media engine with the headless harness: real calls (WebRTC, H.264, Opus) between
# engines with synthetic devices through an in-process signal server on 127.0.0.1. Runs the
# `basic` scenario RUNS times with one call (2 clients) and with CALLS concurrent calls, and
# prints the medians as a markdown table.
#
#   bench/media.sh            # RUNS=5 SECS=10 CALLS=5 by default; 640x480@30, 800 kbit/s, grain 12
# (a fixed rate, as in the earlier runs it is compared with; calls adapt otherwise, see link.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SECS=${SECS:-10}
CALLS=${CALLS:-5}
cargo build --release --locked -p strangers-client --bin harness
HARNESS=${CARGO_TARGET_DIR:-target}/release/harness
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

for run in $(seq "$RUNS"); do
  for clients in 2 $((CALLS * 2)); do
    line=$("$HARNESS" --scenario basic --clients "$clients" --duration "$SECS" --bitrate 800000 2>/dev/null | sed -n 's/^JSON //p' || true)
    echo "$line" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("run %s, %d calls: passed=%s first frame p50 %.0f ms, glass p50 %.1f / p99 %.1f ms, CPU %.1f%%/call" % (sys.argv[1], r["calls"], r["passed"], r["first_frame_ms"]["p50"] or -1, r["glass_to_glass_ms"]["p50"] or -1, r["glass_to_glass_ms"]["p99"] or -1, r["cpu_pct_of_core_per_call"] or -1))' "$run" >&2
    echo "$line" >> "$OUT"
  done
done

python3 - "$OUT" "$SECS" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
secs = float(sys.argv[2])
def med(calls, f):
    vals = [f(r) for r in rows if r["calls"] == calls]
    vals = [v for v in vals if v is not None]
    return st.median(vals) if vals else None
groups = sorted({r["calls"] for r in rows})
metrics = [
    ("all checks passed (runs)", lambda r: 1 if r["passed"] else 0, "{:.0f}", sum),
    ("matched → connected p50 ms", lambda r: r["connect_ms"]["p50"], "{:.0f}", None),
    ("matched → first decoded frame p50 ms", lambda r: r["first_frame_ms"]["p50"], "{:.0f}", None),
    ("matched → first decoded frame p95 ms", lambda r: r["first_frame_ms"]["p95"], "{:.0f}", None),
    ("glass-to-glass p50 ms", lambda r: r["glass_to_glass_ms"]["p50"], "{:.1f}", None),
    ("glass-to-glass p99 ms", lambda r: r["glass_to_glass_ms"]["p99"], "{:.1f}", None),
    ("audio marker latency p50 ms", lambda r: r["audio_latency_ms"]["p50"], "{:.1f}", None),
    ("fps received, lowest stream", lambda r: r["fps_in"]["min"], "{:.1f}", None),
    ("CPU per call, % of one core", lambda r: r["cpu_pct_of_core_per_call"], "{:.1f}", None),
    ("video+audio sent per direction, kbit/s", lambda r: r["bytes_sent"] * 8 / secs / 1000 / r["clients"], "{:.0f}", None),
    ("RSS per client, MiB", lambda r: (r["rss_per_client_kib"] or 0) / 1024, "{:.1f}", None),
]
print("| metric (median of %d runs) | %s |" % (len(rows) // max(len(groups), 1), " | ".join("%d call%s" % (g, "" if g == 1 else "s") for g in groups)))
print("|---|" + "---:|" * len(groups))
for name, f, fmt, agg in metrics:
    cells = []
    for g in groups:
        if agg is sum:
            cells.append("%d of %d" % (sum(f(r) for r in rows if r["calls"] == g), sum(1 for r in rows if r["calls"] == g)))
        else:
            v = med(g, f)
            cells.append("-" if v is None else fmt.format(v))
    print("| %s | %s |" % (name, " | ".join(cells)))
PY
