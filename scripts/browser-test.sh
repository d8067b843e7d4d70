#!/usr/bin/env bash
# A real browser calls our native engine. Headless Chromium (Debian's, driven with puppeteer-core
# as bench/browser.sh does) and one `harness --clients 1` meet through a real signal server on
# 127.0.0.1, once in each direction (bench/browser.sh with RUNS=1):
#   - Chromium offers (we answer and are the DTLS client);
#   - Chromium answers (we offer; Chromium, the controlled ICE agent, is the DTLS client and sends
#     its ClientHello before our agent has chosen a path).
# Passes when both calls connect in those roles with pictures decoded at both ends, and when
# nothing Chromium sent reached our socket only to be dropped: webrtc-rs drops a datagram that
# arrives before its ICE agent has chosen a path (its trace: "drop message from … to <our socket>
# before ICE connection is connected"), and our engine keeps such datagrams until it has one
# (client/src/call/link_io.rs). Whether Chromium's hello came early in a given call depends on
# timing (it did in 12 of 12 quiet runs, not always in CI), so that part is reported, not required.
#
#   scripts/browser-test.sh       # BIN_DIR as bench/browser.sh (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
logs=$(mktemp -d -t browser-test-XXXXXX)
fail() {
  echo "browser-test: FAILED: $*" >&2
  cat "$logs/bench.txt" >&2 || true
  echo "browser-test: logs kept in $logs" >&2
  exit 1
}

log_filter=warn,strangers_client::call::link_io=debug,rtc::peer_connection::handler::ice=trace
RUNS=1 SECS=2 BIN_DIR="$BIN_DIR" LOG_DIR="$logs" HARNESS_LOG=$log_filter \
  timeout 600 bench/browser.sh >"$logs/bench.txt" 2>&1 ||
  fail "a call did not connect with pictures at both ends in the intended roles"

# Per call: what webrtc-rs dropped on its way to our socket (the pair's remote end in Chromium's
# stats), and how many early datagrams our engine kept for its ICE agent.
python3 - "$logs" <<'PY' || fail "a datagram Chromium sent before our ICE agent had a path was dropped"
import json, re, sys
logs = sys.argv[1]
results = json.load(open(f"{logs}/results.json"))
bad = False
for way in ("offers", "answers"):
    run = results[way][0]
    ours = run["stats"]["pair"].split(" -> ")[1]
    log = re.sub(r"\x1b\[[0-9;]*m", "", open(f"{logs}/run1-browser-{way}.harness.log").read())
    dropped = len(re.findall(rf"drop message from \S+ to {re.escape(ours)} before ICE", log))
    kept = sum(int(n) for n in re.findall(r"passing on DTLS datagrams that came before it held=(\d+)", log))
    print(f"browser-test: Chromium {way}: {kept} early DTLS datagram(s) kept for our ICE agent, {dropped} dropped")
    bad |= dropped > 0
sys.exit(1 if bad else 0)
PY
grep '^run 1' "$logs/bench.txt" | sed -e 's/ | {.*}//' -e 's/, exit [0-9]* (failed checks[^)]*)//' -e 's/^/browser-test: /'
echo "browser-test: ok (both directions, nothing Chromium sent was dropped)"
rm -rf "$logs"
