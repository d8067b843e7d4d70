#!/usr/bin/env bash
# Run every test in the workspace: protocol, core (unit + property), the real server over real
# sockets on 127.0.0.1:0, real WebRTC calls, the UI with egui_kittest, then the app's smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --locked --workspace --all-targets "$@"
# The README's own server command, as written.
scripts/readme-server.sh
# The desktop app in a real (virtual) window, as a newcomer launches it.
scripts/smoke.sh
