#!/usr/bin/env bash
# Smoke test of the desktop app, as a newcomer would run it: `strangers --demo` in a real window
# under Xvfb. Accepts the first-run terms with the keyboard (Space, Tab, Space, Tab, Enter, as
# typed into the real window through XTEST), waits for the call to connect, takes a screenshot, checks that it is not blank and
# that the remote video shows the demo stranger's test card, then asks the app to quit (SIGTERM)
# and expects a clean exit.
#
#   scripts/smoke.sh            # uses the debug build; BIN=... to test another binary
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET/smoke}
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  cargo build --locked -p strangers-client --bin strangers
  BIN=$TARGET/debug/strangers
fi
command -v xvfb-run >/dev/null && command -v xdotool >/dev/null || scripts/setup.sh

# Settings go to a throwaway home so the test neither reads nor writes the user's.
export HOME="$OUT/home" XDG_DATA_HOME="$OUT/home/.local/share" XDG_CONFIG_HOME="$OUT/home/.config"
mkdir -p "$HOME"
rm -f "$OUT/shot.png" "$OUT/app.log"

xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  set -u
  "$0" --demo --fresh --size 1180x720 >"$1/app.log" 2>&1 &
  app=$!
  # The first-run screen: focus the window and accept by keyboard.
  win=""
  for _ in $(seq 300); do
    win=$(xdotool search --name "^Strangers" 2>/dev/null | head -n 1) && [ -n "$win" ] && break
    kill -0 $app 2>/dev/null || { echo "smoke: the app exited early" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$win" ] || { echo "smoke: no window within 30 s" >&2; kill $app; exit 1; }
  sleep 2  # the first frames (software rendering)
  xdotool windowfocus --sync "$win" 2>/dev/null || true
  for key in space Tab space Tab Return; do xdotool key --clearmodifiers "$key"; sleep 0.3; done
  for _ in $(seq 600); do
    grep -q "call connected" "$1/app.log" && break
    kill -0 $app 2>/dev/null || { echo "smoke: the app exited early" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "call connected" "$1/app.log" || { echo "smoke: no call within 60 s" >&2; kill $app; exit 1; }
  sleep 3  # let a few remote frames reach the screen (software rendering is slow)
  # A new stranger is blurred until clicked: the screenshot before the click must not show the
  # sharp test card, and one click on the video reveals it.
  import -window root "$1/blurred.png"
  xdotool mousemove 430 300 click 1  # (Ctrl+U does the same; the UI tests use it)
  sleep 2
  import -window root "$1/shot.png"
  kill -TERM $app
  for _ in $(seq 100); do kill -0 $app 2>/dev/null || break; sleep 0.1; done
  if kill -0 $app 2>/dev/null; then echo "smoke: the app ignored SIGTERM" >&2; kill -9 $app; exit 1; fi
  wait $app; code=$?
  [ $code -eq 0 ] || { echo "smoke: the app exited with $code" >&2; exit 1; }
' "$BIN" "$OUT" || { tail -n 30 "$OUT/app.log" >&2; exit 1; }

read -r W H <<<"$(identify -format "%w %h" "$OUT/shot.png")"
convert "$OUT/shot.png" -depth 8 rgb:- | python3 -c '
import sys
w, h = int(sys.argv[1]), int(sys.argv[2])
px = sys.stdin.buffer.read()
assert len(px) == w * h * 3, "short screenshot"
# The remote video fills most of the window left of the chat; the self-view is a small inset.
# Count the test card colours there: each bar covers several percent of the screen only if the
# remote picture is showing.
counts = {"yellow": 0, "cyan": 0, "blue": 0}
values = set()
for i in range(0, len(px), 3 * 7):
    r, g, b = px[i], px[i + 1], px[i + 2]
    values.add((r >> 4, g >> 4, b >> 4))
    if r > 190 and g > 190 and b < 80: counts["yellow"] += 1
    elif r < 80 and g > 190 and b > 190: counts["cyan"] += 1
    elif r < 70 and g < 70 and b > 190: counts["blue"] += 1
total = len(px) // (3 * 7)
shares = {k: v / total for k, v in counts.items()}
print("smoke: screenshot %dx%d, %d distinct colours, test card shares %s" % (w, h, len(values), {k: round(v, 3) for k, v in shares.items()}))
assert len(values) > 20, "the screenshot is blank"
assert all(s > 0.025 for s in shares.values()), "the remote video does not show the test card"
' "$W" "$H"
# Sharp edges inside the upper part of the picture (above the reveal button): the test card's bars
# make hundreds once revealed; blurred, their edges spread over tens of pixels and make next to none.
edges() {
  convert "$1" -depth 8 rgb:- | python3 -c '
import sys
w = int(sys.argv[1])
px = sys.stdin.buffer.read()
n = 0
for y in range(120, 300, 2):
    row = px[y * w * 3:(y + 1) * w * 3]
    for x in range(70, 789):
        a, b = row[x * 3:x * 3 + 3], row[x * 3 + 3:x * 3 + 6]
        if max(abs(a[i] - b[i]) for i in range(3)) > 60: n += 1
print(n)' "$W"
}
blurred=$(edges "$OUT/blurred.png")
sharp=$(edges "$OUT/shot.png")
echo "smoke: sharp edges on the stage: blurred $blurred, revealed $sharp"
[ "$blurred" -lt 40 ] || { echo "smoke: the new stranger's video was not blurred" >&2; exit 1; }
[ "$sharp" -gt 200 ] || { echo "smoke: the click did not reveal the video" >&2; exit 1; }
grep "ui frame times" "$OUT/app.log" | sed "s/.*frames=/smoke: /" || true
echo "smoke: ok ($OUT/shot.png)"
