#!/usr/bin/env bash
# The NAT lab as a benchmark: runs scripts/nat-test.sh's cases RUNS times (default 5) and prints
# medians of what they measure:
#   1, 3, 4, 5   matched → first remote frame, per path type (srflx, prflx, relay, …)
#   3            coturn's CPU (% of one core) and received bitrate while relaying one call
#   6            path restored → media flowing again, after an 8 s outage
#   7            nat1 rebinding (conntrack flushed, new outside port) → media flowing again, with
#                c1 behind nat1 as the offerer and as the answerer (a variant that fails counts
#                as a failed run and adds no sample)
# Needs root (network namespaces). Failed runs are counted and named; their samples are left out.
#   bench/nat.sh                          # cases 1 (srflx) and 6 (outage), 5 runs each
#   RUNS=3 CASES="1 3 6 7" bench/nat.sh
#   BIN_DIR=/some/dir bench/nat.sh        # prebuilt signal-server and harness (see nat-test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
CASES=${CASES:-"1 6"}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for case in $CASES; do
  for run in $(seq "$RUNS"); do
    echo "bench/nat: case $case run $run" >&2
    CASES=$case BENCH=1 scripts/nat-test.sh 2>/dev/null | grep -a '^BENCH \|nat-test: case ' >>"$out" ||
      { echo "bench/nat: case $case run $run failed" >&2; echo "FAILED case=$case" >>"$out"; }
  done
done
python3 - "$out" <<'PY'
import json, re, statistics, sys

first, outage, cpu, kbps, failed = {}, [], [], [], {}
rebind = {}  # variant -> samples
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"BENCH case=(\d+) (c\d) (.*)", line)
    if m:
        d = json.loads(m.group(3) or "{}")
        route = (d.get("routes") or ["?"])[0]
        ff = d.get("first_frame_ms", {}).get("p50")
        # Cases 6 and 7 measure recovery; their first frames are ordinary srflx calls, counted too.
        if ff is not None and d.get("passed"):
            first.setdefault(route, []).append(ff)
        continue
    m = re.match(r"FAILED case=(\d+)", line)
    if m:
        failed[m.group(1)] = failed.get(m.group(1), 0) + 1
        continue
    m = re.search(r"case 6 ok: .*media back (\d+) / (\d+) ms", line)
    if m:
        outage += [int(m.group(1)), int(m.group(2))]
    m = re.search(r"case 7, c1 the (\w+): .*media back (\d+) / (\d+) ms", line)
    if m:
        rebind.setdefault(m.group(1), []).extend([int(m.group(2)), int(m.group(3))])
    m = re.search(r"case 3 ok: .*coturn ([\d.]+)% of one core relaying (\d+) kbit/s", line)
    if m:
        cpu.append(float(m.group(1)))
        kbps.append(int(m.group(2)))

def show(label, v, unit="ms", fmt="{:7.0f}"):
    lo, hi = (fmt.format(min(v)).strip(), fmt.format(max(v)).strip())
    print(f"{label:40}: median {fmt.format(statistics.median(v))} {unit}  (n={len(v)}, {lo}-{hi})")

for route, v in sorted(first.items()):
    show(f"matched -> first frame, {route}", v)
if cpu:
    show("coturn CPU per relayed call", cpu, "% of one core", "{:7.2f}")
    show("bitrate into coturn for that call", kbps, "kbit/s")
if outage:
    show("8 s outage: path restored -> media", outage)
for variant, v in sorted(rebind.items()):
    show(f"nat1 rebinding ({variant}): flush -> media", v)
for case, n in sorted(failed.items()):
    print(f"case {case}: {n} failed run(s)")
PY
