#!/usr/bin/env bash
# The NAT lab as a benchmark: runs scripts/nat-test.sh's cases RUNS times (default 5) and prints
# the medians of matched → first remote frame per path type, and of the time from a restored path
# to media flowing again after an 8 s outage. Needs root (network namespaces).
#   bench/nat.sh              # cases 1 (srflx) and 6 (outage), 5 runs each
#   RUNS=3 CASES="1" bench/nat.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
CASES=${CASES:-"1 6"}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for case in $CASES; do
  for run in $(seq "$RUNS"); do
    echo "bench/nat: case $case run $run" >&2
    CASES=$case BENCH=1 scripts/nat-test.sh 2>/dev/null | grep -a '^BENCH \|case .* ok' >>"$out" || echo "bench/nat: case $case run $run failed" >&2
  done
done
python3 - "$out" <<'PY'
import json, re, statistics, sys
first, recovery = {}, []
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"BENCH case=(\d+) (c\d) (.*)", line)
    if m:
        d = json.loads(m.group(3))
        route = (d.get("routes") or ["?"])[0]
        ff = d.get("first_frame_ms", {}).get("p50")
        if ff is not None:
            first.setdefault(route, []).append(ff)
    m = re.search(r"media back (\d+) / (\d+) ms", line)
    if m:
        recovery += [int(m.group(1)), int(m.group(2))]
for route, v in sorted(first.items()):
    print(f"matched -> first frame, {route:6}: median {statistics.median(v):7.0f} ms  (n={len(v)}, {min(v):.0f}-{max(v):.0f})")
if recovery:
    print(f"path restored -> media again : median {statistics.median(recovery):7.0f} ms  (n={len(recovery)}, {min(recovery)}-{max(recovery)})")
PY
