#!/usr/bin/env bash
# Interop benchmark with a real browser: one headless Chromium page (bench/browser/page.html,
# default codecs, fake camera and microphone) calls one native harness client through a real
# signal server on 127.0.0.1. Both directions, RUNS times each:
#   - Chromium offers: the page searches first, so it waited longer and the server makes it the
#     offerer; our side answers (and, answering with setup:active, is the DTLS client);
#   - Chromium answers: the harness searches first and offers; Chromium is the DTLS client.
# Prints per run, then as medians: on the browser side matched → ICE connected, → DTLS connected
# (pc.connectionState), → first video RTP, → first decoded frame (requestVideoFrameCallback); on
# the harness side its own matched → connected and → first decoded frame.
#
#   bench/browser.sh                         # RUNS=5 SECS=1 by default
#   BIN_DIR=~/.cache/strangers-ci-target/debug bench/browser.sh
#
# BIN_DIR holds signal-server and harness (default ${CARGO_TARGET_DIR:-target}/debug; built with
# cargo only if missing there). HARNESS_LOG sets the harness's RUST_LOG (default warn);
# CHROME_LOG=1 copies Chromium's own output to stderr. Per-run logs stay in LOG_DIR. SERVER_ARGS
# adds flags to the signal server (e.g. "--turn turn:127.0.0.1:3478 --turn-secret S"), and
# HARNESS_ARGS to the harness (e.g. --relay-only).
# Installs Debian's chromium and, under bench/browser/, puppeteer-core when missing; never
# downloads a browser of its own.
#
# Exit status: 0 when every run gave timings on both sides in the intended roles. The harness's
# media checks fail against a browser (no stamped test card, no tone); that does not count.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SECS=${SECS:-1}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}

# shellcheck source=bench/browser/setup.sh
. bench/browser/setup.sh

if [ ! -x "$BIN_DIR/harness" ] || [ ! -x "$BIN_DIR/signal-server" ]; then
  cargo build --locked -p signal-server --bin signal-server -p strangers-client --bin harness
fi

LOG_DIR=${LOG_DIR:-$(mktemp -d -t browser-bench-XXXXXX)}
mkdir -p "$LOG_DIR"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags (e.g. --turn URL --turn-secret S)
"$BIN_DIR/signal-server" --listen "127.0.0.1:$port" ${SERVER_ARGS:-} >"$LOG_DIR/signal-server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { echo "signal-server exited; see $LOG_DIR/signal-server.log" >&2; exit 1; }
  sleep 0.1
done

SERVER_PORT=$port HARNESS="$BIN_DIR/harness" RUNS=$RUNS SECS=$SECS LOG_DIR=$LOG_DIR \
  node bench/browser/driver.js
