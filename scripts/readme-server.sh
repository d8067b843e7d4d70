#!/usr/bin/env bash
# Runs the README's "Running your own signal server" command exactly as written, as a newcomer
# would paste it, and checks that the server it starts answers /healthz. It runs in a network
# namespace of its own, so the README's `--listen 0.0.0.0:8080` can neither clash with anything
# on this machine nor be reached from outside. Needs root (CI has it); skipped with a note without.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=$(awk '/^## Running your own signal server/{on=1} on && /^cargo run /{print; exit}' README.md)
[ -n "$cmd" ] || { echo "readme-server: no 'cargo run' line under 'Running your own signal server'" >&2; exit 1; }
port=$(sed -n 's/.*--listen [0-9.]*:\([0-9]*\).*/\1/p' <<<"$cmd")
[ -n "$port" ] || { echo "readme-server: the README command has no --listen" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  echo "readme-server: SKIPPED (needs root and iproute2 for a private network namespace)" >&2
  exit 0
fi

# Build first, outside the namespace, so the timed part below is only the server starting.
cargo build --locked -q -p signal-server

ns="strangers-readme-$$"
log=$(mktemp)
cleanup() {
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  sleep 0.2
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up

echo "readme-server: $cmd" >&2
ip netns exec "$ns" bash -c "$cmd" >"$log" 2>&1 &

health() {
  ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&3 && head -c 12 <&3" 2>/dev/null
}
for _ in $(seq 300); do
  if [[ "$(health)" == "HTTP/1.1 200" ]]; then
    echo "readme-server: the README's server command serves /healthz on port $port" >&2
    exit 0
  fi
  sleep 0.2
done
echo "readme-server: the server never answered; its output:" >&2
cat "$log" >&2
exit 1
