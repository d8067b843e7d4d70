#!/usr/bin/env bash
# A real browser calls our native engine. Headless Chromium (Debian's, driven with puppeteer-core
# as bench/browser.sh does) and one `harness --clients 1` meet through a real signal server on
# 127.0.0.1, once in each direction (bench/browser.sh with RUNS=1):
#   - Chromium offers (we answer and are the DTLS client);
#   - Chromium answers (we offer; Chromium, the controlled ICE agent, is the DTLS client and sends
#     its ClientHello before our agent has chosen a path).
# Passes when both calls connect in those roles with pictures decoded at both ends, and when in
# the call Chromium answers our engine kept that early ClientHello and handed it to DTLS once ICE
# had a path (client/src/call/early_dtls.rs) instead of dropping it as webrtc-rs does.
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

RUNS=1 SECS=2 BIN_DIR="$BIN_DIR" LOG_DIR="$logs" HARNESS_LOG=warn,strangers_client::call::early_dtls=debug \
  timeout 600 bench/browser.sh >"$logs/bench.txt" 2>&1 ||
  fail "a call did not connect with pictures at both ends in the intended roles"

kept='passing on DTLS datagrams that came before it'
grep -q "$kept" "$logs/run1-browser-answers.harness.log" ||
  fail "Chromium answered, but its early DTLS hello was not kept for our ICE agent"
# Answering, we are the DTLS client: there is no hello to wait for.
if grep -q "$kept" "$logs/run1-browser-offers.harness.log"; then
  fail "Chromium offered, yet DTLS datagrams arrived before our ICE agent had a path"
fi
grep '^run 1' "$logs/bench.txt" | sed -e 's/ | {.*}//' -e 's/, exit [0-9]* (failed checks[^)]*)//' -e 's/^/browser-test: /'
echo "browser-test: ok (both directions; Chromium's early ClientHello kept and delivered)"
rm -rf "$logs"
