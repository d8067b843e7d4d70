#!/usr/bin/env bash
# Build and launch Strangers. Until the desktop app lands this is the signal server on its local
# default (ws://127.0.0.1:8080/); any flags are passed through (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --locked -p signal-server --bin signal-server -- "$@"
