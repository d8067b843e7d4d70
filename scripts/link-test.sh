#!/usr/bin/env bash
# A call on a thin link (300 kbit/s each way, a 300 ms router queue; see scripts/lib/link-lab.sh)
# between two harness clients in their own network namespaces, sending a 640x480@30 test card and
# adapting as the app does. Checks that congestion control and the bitrate ladder bring each
# sender below the link rate and that video and audio keep arriving. A functional check: the
# figures of the full profiles are bench/link.sh's, in docs/BENCHMARKS.md.
#
# Needs root (CI has it). The namespaces are removed on every exit path.
#   scripts/link-test.sh                  # builds the debug binaries if needed
#   BIN_DIR=/some/dir scripts/link-test.sh
#   KEEP=/some/dir scripts/link-test.sh   # keep the timelines and logs
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
SECS=${SECS:-24}
LINK_KBIT=300

if [ "$(id -u)" -ne 0 ]; then
  echo "link-test: needs root for network namespaces" >&2
  exit 1
fi
for tool in ip tc nft python3; do
  command -v "$tool" >/dev/null || { echo "link-test: $tool missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --locked -q -p signal-server -p strangers-client --bin signal-server --bin harness
fi
BIN=${BIN_DIR:-$TARGET/debug}
WORK=$(mktemp -d)
# shellcheck source=scripts/lib/link-lab.sh
. scripts/lib/link-lab.sh
cleanup() {
  lab_down
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/ && echo "link-test: logs kept in $KEEP" >&2; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

lab_up
lab_shape "$LINK_KBIT" 0
lab_server "$BIN/signal-server" "$WORK/server.log"
common=(--scenario basic --clients 1 --server "$LAB_URL" --duration "$SECS")
lab_in c1 "$BIN/harness" "${common[@]}" --tone 440 --partner-tone 660 --timeline "$WORK/c1.jsonl" \
  >"$WORK/c1.out" 2>"$WORK/c1.err" & p1=$!
lab_in c2 "$BIN/harness" "${common[@]}" --tone 660 --partner-tone 440 --timeline "$WORK/c2.jsonl" \
  >"$WORK/c2.out" 2>"$WORK/c2.err" & p2=$!
# The harness's own check of the frame count assumes the sender's nominal 30 fps, which an
# adapting sender on this link does not keep: its exit status 2 (a failed check) is expected
# here; the timeline is what is checked. Anything else (it could not run) fails the test.
for p in $p1 $p2; do
  rc=0; wait "$p" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    echo "link-test: a client failed to run (exit $rc); its output:" >&2
    cat "$WORK"/c*.err >&2
    exit 1
  fi
done
if [ ! -s "$WORK/c1.jsonl" ] || [ ! -s "$WORK/c2.jsonl" ]; then
  echo "link-test: no timeline (the call never ran); the clients said:" >&2
  cat "$WORK"/c*.out "$WORK"/c*.err >&2
  exit 1
fi
# The first 8 s are the call starting from its initial estimate and adapting down; the check
# looks at the second half of the rest.
if python3 scripts/lib/link_eval.py "$WORK/c1.jsonl" "$WORK/c2.jsonl" --link-kbit "$LINK_KBIT" --skip 8 --check; then
  echo "link-test: ok (adapted below ${LINK_KBIT} kbit/s, video and audio kept arriving)"
else
  echo "link-test: FAILED; the clients said:" >&2
  grep -h "^\s*\[" "$WORK"/c*.out >&2 || true
  exit 1
fi
