#!/usr/bin/env bash
# Build and launch the Strangers desktop app with a demo stranger, on the local default server
# (ws://127.0.0.1:8080/, started inside the app when nothing is running there). Any flags are
# passed to the app (see `--help`), e.g. `scripts/run.sh --server wss://chat.example.org/`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --locked -p strangers-client --bin strangers
BIN=${CARGO_TARGET_DIR:-target}/debug/strangers
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display found; starting the app on a virtual one (xvfb-run). Screenshots: import -window root shot.png" >&2
  exec xvfb-run -a -s "-screen 0 1280x800x24" "$BIN" --demo "$@"
fi
exec "$BIN" --demo "$@"
