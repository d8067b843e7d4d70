#!/usr/bin/env bash
# A real browser calls our native engine. Headless Chromium (Debian's, driven with puppeteer-core
# as bench/browser.sh does) and one `harness --clients 1` meet through a real signal server on
# 127.0.0.1, once in each direction (bench/browser.sh with RUNS=1):
#   - Chromium offers (we answer and are the DTLS client);
#   - Chromium answers (we offer; Chromium, the controlled ICE agent, is the DTLS client and sends
#     its ClientHello before our agent has chosen a path).
# Then both again with our side relayed through a real coturn on 127.0.0.1 (`--relay-only`),
# where our agent waits before it nominates the relayed pair and the hello comes early for sure.
# Passes when every call connects in its role with pictures decoded at both ends (and the
# relayed ones through the relay), and when nothing Chromium sent reached our side only to be
# dropped: webrtc-rs drops a datagram that arrives before its ICE agent has chosen a path (its
# trace: "drop message from … to <our address> before ICE connection is connected"), and our
# engine keeps such datagrams until it has one (client/src/call/link_io.rs). Whether the hello
# comes early on a direct path depends on timing, so that count is reported, not required.
#
#   scripts/browser-test.sh       # BIN_DIR as bench/browser.sh (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
logs=$(mktemp -d -t browser-test-XXXXXX)
turn_pid=""
cleanup() {
  if [ -n "$turn_pid" ]; then kill "$turn_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
fail() {
  echo "browser-test: FAILED: $*" >&2
  cat "$logs"/*/bench.txt >&2 || true
  echo "browser-test: logs kept in $logs" >&2
  exit 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# calls NAME [VAR=value ...]: both directions once, logs in $logs/NAME.
calls() {
  local name=$1
  shift
  mkdir -p "$logs/$name"
  env "$@" RUNS=1 SECS=2 BIN_DIR="$BIN_DIR" LOG_DIR="$logs/$name" \
    HARNESS_LOG=warn,strangers_client::call::link_io=debug,rtc::peer_connection::handler::ice=trace \
    timeout 600 bench/browser.sh >"$logs/$name/bench.txt" 2>&1 ||
    fail "$name: a call did not connect with pictures at both ends in the intended roles"
}

# check NAME ROUTES: every call took one of ROUTES (comma-separated), and nothing Chromium sent was dropped on its way to
# our side (the far end of the pair in Chromium's stats); prints what was kept and the timings.
check() {
  python3 - "$logs/$1" "$1" "$2" <<'PY' || fail "$1: see above"
import json, re, sys
logs, name, routes_ok = sys.argv[1:]
results = json.load(open(f"{logs}/results.json"))
bad = []
for way in ("offers", "answers"):
    run = results[way][0]
    ours = run["stats"]["pair"].split(" -> ")[1]
    routes = run["harness"]["routes"]
    log = re.sub(r"\x1b\[[0-9;]*m", "", open(f"{logs}/run1-browser-{way}.harness.log").read())
    dropped = len(re.findall(rf"drop message from \S+ to {re.escape(ours)} before ICE", log))
    kept = sum(int(n) for n in re.findall(r"passing on DTLS datagrams that came before it held=(\d+)", log))
    print(f"browser-test: {name}, Chromium {way}: route {'/'.join(routes)}, {kept} early DTLS datagram(s) kept, {dropped} dropped")
    if dropped:
        bad.append(f"Chromium {way}: a datagram sent before our ICE agent had a path was dropped")
    if len(routes) != 1 or routes[0] not in routes_ok.split(","):
        bad.append(f"Chromium {way}: route {routes}, wanted one of {routes_ok}")
for b in bad:
    print(f"browser-test: {name}: {b}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  grep '^run 1' "$logs/$1/bench.txt" |
    sed -e 's/ | {.*}//' -e 's/, exit [0-9]* (failed checks[^)]*)//' -e "s/^/browser-test: $1, /"
}

calls direct
# Direct: the partner's address came in its candidates (host) or from its first check (prflx).
check direct host,prflx

# A TURN server of our own on loopback (coturn refuses loopback peers unless told).
turn_port=$(free_port)
secret=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
turnserver -n --use-auth-secret --static-auth-secret="$secret" --realm=strangers.test \
  --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port="$turn_port" \
  --min-port=49152 --max-port=65535 --no-tls --no-dtls --no-cli --simple-log \
  --allow-loopback-peers --log-file="$logs/turn.log" >/dev/null 2>&1 &
turn_pid=$!
calls relayed SERVER_ARGS="--turn turn:127.0.0.1:$turn_port?transport=udp --turn-secret $secret" \
  HARNESS_ARGS=--relay-only
check relayed relay

echo "browser-test: ok (direct and relayed, both directions, nothing Chromium sent was dropped)"
rm -rf "$logs"
