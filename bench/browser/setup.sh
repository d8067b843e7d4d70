#!/usr/bin/env bash
# What the browser benchmarks need: Debian's chromium, node and npm (apt-get), and puppeteer-core
# under bench/browser/ (npm, never a browser download). Sourced by bench/browser.sh and
# bench/link.sh; does nothing when all is there.
need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ ! -d bench/browser/node_modules/puppeteer-core ]; then
  echo "installing puppeteer-core with npm" >&2
  (cd bench/browser && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
