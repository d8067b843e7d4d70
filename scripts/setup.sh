#!/usr/bin/env bash
# Install what building and testing Strangers needs on Debian 12, and nothing that is already there.
# Idempotent and quick when everything is present. Only Debian's own package registry is used.
set -euo pipefail

# Packages the build and the tests need (see docs/ARCHITECTURE.md for why each is here).
PACKAGES=(
  build-essential   # cc for ring (TLS) and the bundled C codecs
  pkg-config
  ca-certificates
  cmake             # the opus crate builds its bundled libopus with cmake
  nasm              # openh264's assembly (about 3x faster encode) and mozjpeg's SIMD
  libclang-dev      # bindgen for nokhwa's Video4Linux bindings
  libasound2-dev    # cpal's ALSA backend
  # Running the desktop app (eframe's wgpu renderer on Mesa) and its headless smoke test.
  libgl1-mesa-dri
  libegl1
  libxkbcommon-x11-0
  libxcursor1
  libxrandr2
  libxi6
  xvfb
  xauth
  imagemagick       # `import` takes the smoke test's screenshot
  xdotool           # the smoke test accepts the first-run terms with the keyboard, as a newcomer does
  # The NAT lab (scripts/nat-test.sh): namespaces, kernel NAT, a real TURN server, JSON reading.
  iproute2
  nftables
  conntrack         # flushes the NATs' mappings (a router reboot, case 7)
  coturn
  redis-server      # the cluster tests (several signal-server nodes sharing a queue) start their own
  python3
  # Real-time audio devices for the device tests: a user-space PulseAudio null sink behind ALSA.
  pulseaudio
  pulseaudio-utils
  libasound2-plugins
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Strangers needs Rust 1.95 (rustup: https://rustup.rs)." >&2
  exit 1
fi
