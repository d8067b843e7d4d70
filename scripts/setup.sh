#!/usr/bin/env bash
# Install what building and testing Strangers needs on Debian 12, and nothing that is already there.
# Idempotent and quick when everything is present. Only Debian's own package registry is used.
set -euo pipefail

# Packages the build and the tests need (see docs/ARCHITECTURE.md for why each is here).
PACKAGES=(
  build-essential   # cc for ring (TLS) and the bundled C codecs
  pkg-config
  ca-certificates
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
