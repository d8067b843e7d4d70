#!/usr/bin/env bash
# Run every test in the workspace: protocol, core (unit + property), the real server over real
# sockets on 127.0.0.1:0, real WebRTC calls, the UI with egui_kittest, then the app's smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --locked --workspace --all-targets "$@"
# Real calls across real NATs (network namespaces, nftables NAT, coturn); needs root, as CI has.
# Then a call on a thin (300 kbit/s) link: congestion control and the bitrate ladder adapt.
if [ "$(id -u)" -eq 0 ]; then
  CASES="${NAT_CASES:-1 2 3 4 5 6 7 8}" scripts/nat-test.sh
  scripts/link-test.sh
else
  echo "test.sh: nat-test and link-test SKIPPED (need root for network namespaces)" >&2
fi
# A real browser (headless Chromium) calls the native engine, both ways.
scripts/browser-test.sh
# The README's own server command, as written.
scripts/readme-server.sh
# The desktop app in a real (virtual) window, as a newcomer launches it.
scripts/smoke.sh
