#!/usr/bin/env bash
# Call quality on a shaped, lossy link, side by side with Chromium. Each call crosses the link
# lab of scripts/lib/link-lab.sh (two network namespaces behind a router that shapes each
# direction with tbf and a 300 ms queue, and drops UDP at random): first between two native
# harness clients (640x480@30 test card and a tone, adapting as the app does), then between two
# headless Chromium pages (fake 640x480@30 camera, a WAV tone as microphone, default codecs) that
# use the same signal server, in the same sitting. Profiles:
#   thin   300 kbit/s each way, no loss
#   lossy  1 Mbit/s each way, 3% of UDP dropped
#   step   2 Mbit/s, then 300 kbit/s, then 2 Mbit/s again, 20 s each
# Each call gets SETUP seconds to start and adapt, then is measured for the profile's length.
# Per receiver (scripts/lib/link_eval.py): received fps (p50 and the worst 5 s window), freezes
# (gaps over 500 ms between pictures), glass-to-glass p50/p95 (harness: stamped test card),
# audio continuity (harness: 20 ms frames carrying the partner's tone; Chromium: samples not
# concealed), and for the step profile the time to settle after each change. Prints every run,
# then medians over RUNS runs and both receivers.
#
#   bench/link.sh                                # RUNS=3 PROFILES="thin lossy step" KINDS="harness chromium"
#   RUNS=1 PROFILES=thin KINDS=harness bench/link.sh
#
# Needs root (namespaces). BIN_DIR holds release signal-server and harness (built when missing);
# LOG_DIR keeps every timeline. Installs chromium, node and puppeteer-core like bench/browser.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
PROFILES=${PROFILES:-"thin lossy step"}
KINDS=${KINDS:-"harness chromium"}
SETUP=${SETUP:-10}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
LOG_DIR=${LOG_DIR:-$(mktemp -d -t link-bench-XXXXXX)}
mkdir -p "$LOG_DIR"

if [ "$(id -u)" -ne 0 ]; then
  echo "link.sh: needs root for network namespaces" >&2
  exit 1
fi
case " $KINDS " in *" chromium "*)
  # shellcheck source=bench/browser/setup.sh
  . bench/browser/setup.sh ;;
esac
if [ ! -x "$BIN_DIR/harness" ] || [ ! -x "$BIN_DIR/signal-server" ]; then
  cargo build --locked --release -q -p signal-server --bin signal-server -p strangers-client --bin harness
fi

# shellcheck source=scripts/lib/link-lab.sh
. scripts/lib/link-lab.sh
trap lab_down EXIT
lab_up
lab_server "$BIN_DIR/signal-server" "$LOG_DIR/server.log"

# The Chromium microphones: a minute of a steady tone each (Chromium loops the file).
for hz in 440 660; do
  python3 - "$LOG_DIR/tone$hz.wav" "$hz" <<'P'
import math, struct, sys, wave
path, hz = sys.argv[1], float(sys.argv[2])
with wave.open(path, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(48000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / 48000))) for i in range(48000 * 60)))
P
done

profile_secs() { case $1 in step) echo 60 ;; *) echo 40 ;; esac; }
profile_start() {
  case $1 in
    thin) lab_shape 300 0 ;;
    lossy) lab_shape 1000 3 ;;
    step) lab_shape 2000 0 ;;
  esac
}
now_ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }

# One call of KIND on PROFILE; prints the evaluation's JSON.
run_call() {
  local kind=$1 profile=$2 tag=$3 secs pids=() from changes=""
  secs=$(profile_secs "$profile")
  local total=$((SETUP + secs + 4))
  profile_start "$profile"
  rm -f "$LOG_DIR/$tag".c?.jsonl
  if [ "$kind" = harness ]; then
    lab_in c1 "$BIN_DIR/harness" --clients 1 --server "$LAB_URL" --duration "$total" --tone 440 --partner-tone 660 \
      --timeline "$LOG_DIR/$tag.c1.jsonl" >"$LOG_DIR/$tag.c1.out" 2>"$LOG_DIR/$tag.c1.err" & pids+=($!)
    lab_in c2 "$BIN_DIR/harness" --clients 1 --server "$LAB_URL" --duration "$total" --tone 660 --partner-tone 440 \
      --timeline "$LOG_DIR/$tag.c2.jsonl" >"$LOG_DIR/$tag.c2.out" 2>"$LOG_DIR/$tag.c2.err" & pids+=($!)
  else
    local i hz
    for i in 1 2; do
      hz=$([ "$i" = 1 ] && echo 440 || echo 660)
      lab_in "c$i" env SERVER_URL="$LAB_URL" NAME="c$i" SECS="$total" OUT="$LOG_DIR/$tag.c$i.jsonl" \
        WAV="$LOG_DIR/tone$hz.wav" node bench/browser/link.js >"$LOG_DIR/$tag.c$i.out" 2>&1 & pids+=($!)
    done
  fi
  # The measured window starts SETUP seconds after the clients did (they need a few to find
  # each other and connect); the step profile changes the link 20 and 40 s into it.
  sleep "$SETUP"
  from=$(now_ms)
  if [ "$profile" = step ]; then
    sleep 20; lab_shape 300 0; changes=$(now_ms)
    sleep 20; lab_shape 2000 0; changes="$changes,$(now_ms)"
    sleep 20
  else
    sleep "$secs"
  fi
  local to
  to=$(now_ms)
  for p in "${pids[@]}"; do wait "$p" || true; done
  local files=("$LOG_DIR/$tag.c1.jsonl" "$LOG_DIR/$tag.c2.jsonl")
  for f in "${files[@]}"; do
    [ -s "$f" ] || { echo "{\"error\": \"no timeline from $f; see $LOG_DIR/$tag.*\"}"; return 0; }
  done
  python3 scripts/lib/link_eval.py "${files[@]}" --from-ms "$from" --to-ms "$to" --changes-ms "$changes"
}

results="$LOG_DIR/results.jsonl"
: >"$results"
for profile in $PROFILES; do
  for run in $(seq "$RUNS"); do
    for kind in $KINDS; do
      tag="$profile-$kind-run$run"
      json=$(run_call "$kind" "$profile" "$tag")
      echo "$tag $json"
      echo "{\"profile\": \"$profile\", \"kind\": \"$kind\", \"run\": $run, \"result\": $json}" >>"$results"
    done
  done
done

python3 - "$results" <<'P'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
metrics = [("fps_p50", "received fps, p50 of 5 s windows"), ("fps_min_5s", "received fps, worst 5 s window"),
           ("freezes", "freezes (> 500 ms)"), ("glass_p50_ms", "glass-to-glass p50 ms"),
           ("glass_p95_ms", "glass-to-glass p95 ms"), ("audio_continuity", "audio continuity"),
           ("partner_sent_kbps_p50", "sender's media kbit/s, p50")]
def values(profile, kind, key, index=None):
    out = []
    for r in rows:
        if r["profile"] != profile or r["kind"] != kind or "error" in r["result"]:
            continue
        for client in r["result"].values():
            v = client.get(key)
            if index is not None:
                v = v[index] if isinstance(v, list) and len(v) > index else None
            if v is not None:
                out.append(v)
    return out
def med(v):
    return "-" if not v else (f"{statistics.median(v):.3f}" if max(v) <= 1.0 and min(v) >= 0.9 else f"{statistics.median(v):.1f}")
kinds = sorted({r["kind"] for r in rows}, key=lambda k: k != "harness")
for profile in dict.fromkeys(r["profile"] for r in rows):
    print(f"\n{profile}: medians over runs and both receivers")
    print("| metric | " + " | ".join(kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for key, name in metrics:
        print(f"| {name} | " + " | ".join(med(values(profile, k, key)) for k in kinds) + " |")
    if profile == "step":
        for i, what in enumerate(["settle after 2 Mbit/s → 300 kbit/s (s)", "settle after 300 kbit/s → 2 Mbit/s (s)"]):
            print(f"| {what} | " + " | ".join(med(values(profile, k, "settle_s", i)) for k in kinds) + " |")
P
echo "timelines and logs in $LOG_DIR"
