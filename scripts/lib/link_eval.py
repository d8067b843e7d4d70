#!/usr/bin/env python3
"""Figures of one call on a shaped link, from the timelines the two ends wrote.

Input: JSON lines, one per client per tick, as `harness --timeline` writes them (bench/browser/
link.js writes the same fields for Chromium, minus glass-to-glass). Output: one JSON object per
receiving client; with --check, the functional assertions of scripts/link-test.sh.

  link_eval.py C1.jsonl C2.jsonl [--link-kbit 300] [--check] [--skip S]
               [--from-ms MS --to-ms MS] [--changes-ms MS,MS]

--skip drops each timeline's first seconds; --from-ms/--to-ms cut a window in wall-clock time
(the two ends are separate processes); --changes-ms are the instants the link changed, from which
settle times are measured.
"""

import argparse
import json
import os
import statistics
import sys

FPS_WINDOW = 5.0


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    rank = max(1, min(len(v), int(-(-p * len(v) // 100))))
    return v[rank - 1]


def fine(t, glass_ok):
    if t["frames"] == 0 or t["freezes"] > 0:
        return False
    return t.get("glass_p95_ms") is None or t["glass_p95_ms"] <= glass_ok


def continuity(ticks):
    """Share of the 20 ms audio frames due in these ticks that carried the partner's tone (the
    harness) or were not concealed (Chromium). Frames that never played count as missing."""
    due = with_tone = 0.0
    for prev, t in zip(ticks, ticks[1:]):
        expected = max(0.0, (t["t"] - prev["t"]) * 50.0)
        due += expected
        with_tone += min(float(t.get("tone_with", 0)), expected)
    return round(with_tone / due, 4) if due else None


def evaluate(ticks, changes):
    """Figures of one receiver's ticks (already cut to the window). `changes` are the instants
    (unix ms) the link changed; settle times are measured from each to the next (or the end)."""
    if not ticks:
        return {"error": "no ticks"}
    out = {}
    windows = {}
    first = ticks[0]["t"]
    for t in ticks:
        windows.setdefault(int((t["t"] - first) // FPS_WINDOW), []).append(t)
    fps5 = [sum(t["frames"] for t in w) / (0.5 * len(w)) for w in windows.values() if len(w) >= 8]
    glass = [g for t in ticks for g in t.get("glass_ms", [])]
    out["fps_p50"] = round(statistics.median(fps5), 1) if fps5 else None
    out["fps_min_5s"] = round(min(fps5), 1) if fps5 else None
    out["freezes"] = sum(t["freezes"] for t in ticks)
    out["glass_p50_ms"] = pct(glass, 50)
    out["glass_p95_ms"] = pct(glass, 95)
    out["audio_continuity"] = continuity(ticks)
    sent = [t["partner_sent_kbps"] for t in ticks if t.get("partner_sent_kbps") is not None]
    out["partner_sent_kbps_p50"] = round(statistics.median(sent), 1) if sent else None
    if changes:
        end = ticks[-1]["unix_ms"]
        bounds = list(changes) + [end]
        out["settle_s"] = [settle_ms(ticks, bounds[i], bounds[i + 1]) for i in range(len(changes))]
    return out


def settle_ms(ticks, start, end, glass_ok=400.0):
    """Seconds from `start` (unix ms) until the receiver's ticks are fine for good (to `end`):
    pictures in every tick, no freeze, and (where measured) glass-to-glass p95 within 400 ms."""
    window = [t for t in ticks if start < t["unix_ms"] <= end]
    for i, t in enumerate(window):
        if all(fine(u, glass_ok) for u in window[i:]):
            return round((t["unix_ms"] - start) / 1000.0, 2)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("timelines", nargs="+", help="one file per client, named after it")
    ap.add_argument("--link-kbit", type=float)
    ap.add_argument("--skip", type=float, default=0.0, help="drop each timeline's first seconds")
    ap.add_argument("--from-ms", type=int, help="the window's start (unix ms)")
    ap.add_argument("--to-ms", type=int, help="the window's end (unix ms)")
    ap.add_argument("--changes-ms", default="", help="when the link changed (unix ms, comma separated)")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    changes = [int(c) for c in a.changes_ms.split(",") if c]
    by_client = {}
    for path in a.timelines:
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            by_client[name] = [json.loads(line) for line in f if line.strip()]
    # What each receiver got was sent by the other end: pair each tick with the partner's rate.
    names = sorted(by_client)
    for name in names:
        others = [n for n in names if n != name]
        partner = by_client[others[0]] if others else []
        for t in by_client[name]:
            near = min(partner, key=lambda u: abs(u["unix_ms"] - t["unix_ms"]), default=None)
            t["partner_sent_kbps"] = near.get("sent_kbps") if near else None
    cut = {}
    for name in names:
        ticks = [t for t in by_client[name] if t["t"] > a.skip]
        if a.from_ms is not None:
            ticks = [t for t in ticks if t["unix_ms"] > a.from_ms]
        if a.to_ms is not None:
            ticks = [t for t in ticks if t["unix_ms"] <= a.to_ms]
        cut[name] = ticks
    results = {name: evaluate(cut[name], changes) for name in names}
    print(json.dumps(results))
    if not a.check:
        return 0
    failures = []
    for name, r in results.items():
        last = cut[name][-int(len(cut[name]) / 2):]
        sent = [t["partner_sent_kbps"] for t in last if t.get("partner_sent_kbps") is not None]
        # The functional check: once adapted, the partner sends below the link, and video keeps
        # coming (pictures in every second) with the tone in the audio.
        if not sent or statistics.median(sent) >= a.link_kbit:
            failures.append(f"{name}: partner still sends {statistics.median(sent) if sent else None} kbit/s on a {a.link_kbit} kbit/s link")
        for i in range(0, len(last) - 1, 2):
            if last[i]["frames"] + last[i + 1]["frames"] == 0:
                failures.append(f"{name}: no video in the second ending at {last[i + 1]['t']} s")
        if r.get("audio_continuity") is None or r["audio_continuity"] < 0.9:
            failures.append(f"{name}: the tone in {r.get('audio_continuity')} of audio frames")
    for f in failures:
        print("link-test: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
