#!/usr/bin/env bash
# Run every test in the workspace: protocol, core (unit + property), and the real server over
# real sockets on 127.0.0.1:0.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo test --locked --workspace --all-targets "$@"
