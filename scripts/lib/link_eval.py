#!/usr/bin/env python3
"""Figures of one call on a shaped link, from the timelines the two ends wrote.

Input: JSON lines, one per client per tick, as `harness --timeline` writes them (the same shape
bench/browser/link.js writes for Chromium, minus what a browser cannot measure). Output: one JSON
object per receiving client, and with --check the functional assertions of scripts/link-test.sh.

  link_eval.py C1.jsonl C2.jsonl [--phases 20,20,20] [--link-kbit 300] [--check] [--skip 0]

--phases splits the call at these durations (seconds) for the step profile: settle times are
measured from each boundary after the first. --skip drops the first seconds (connection setup).
"""

import argparse
import json
import os
import statistics
import sys

FREEZE_WINDOW = 5.0


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    rank = max(1, min(len(v), int(-(-p * len(v) // 100))))
    return v[rank - 1]


def settle(ticks, start, end, link_kbit, glass_ok=400.0):
    """Seconds from `start` until the receiver's ticks are fine for good (to `end`): pictures in
    every tick, no freeze, and (where measured) glass-to-glass p95 within `glass_ok` ms; and the
    sender's rate within the link."""
    window = [t for t in ticks if start < t["t"] <= end]
    if not window:
        return None
    for i, t in enumerate(window):
        if all(fine(u, link_kbit, glass_ok) for u in window[i:]):
            return round(t["t"] - start, 2)
    return None


def fine(t, link_kbit, glass_ok):
    if t["frames"] == 0 or t["freezes"] > 0:
        return False
    if t.get("glass_p95_ms") is not None and t["glass_p95_ms"] > glass_ok:
        return False
    return link_kbit is None or t.get("partner_sent_kbps") is None or t["partner_sent_kbps"] <= link_kbit


def evaluate(ticks, phases, link_kbit, skip):
    ticks = [t for t in ticks if t["t"] > skip]
    out = {}
    if not ticks:
        return {"error": "no ticks"}
    # Received fps per 5 s window.
    windows = {}
    for t in ticks:
        windows.setdefault(int((t["t"] - skip) // FREEZE_WINDOW), []).append(t)
    fps5 = [sum(t["frames"] for t in w) / max(1e-3, sum(0.5 for _ in w)) for w in windows.values() if len(w) >= 8]
    glass = [g for t in ticks for g in t.get("glass_ms", [])]
    tone_frames = sum(t.get("tone_frames", 0) for t in ticks)
    tone_with = sum(t.get("tone_with", 0) for t in ticks)
    out["fps_p50"] = round(statistics.median(fps5), 1) if fps5 else None
    out["fps_min_5s"] = round(min(fps5), 1) if fps5 else None
    out["freezes"] = sum(t["freezes"] for t in ticks)
    out["glass_p50_ms"] = pct(glass, 50)
    out["glass_p95_ms"] = pct(glass, 95)
    out["audio_continuity"] = round(tone_with / tone_frames, 4) if tone_frames else None
    sent = [t["partner_sent_kbps"] for t in ticks if t.get("partner_sent_kbps") is not None]
    out["partner_sent_kbps_p50"] = round(statistics.median(sent), 1) if sent else None
    if phases:
        bounds = [skip]
        for p in phases:
            bounds.append(bounds[-1] + p)
        out["settle_s"] = [settle(ticks, bounds[i], bounds[i + 1], None) for i in range(1, len(phases))]
        # Glass-to-glass once settled in each phase (the last half of it).
        out["phase_glass_p95_ms"] = [
            pct([g for t in ticks if (bounds[i] + bounds[i + 1]) / 2 < t["t"] <= bounds[i + 1] for g in t.get("glass_ms", [])], 95)
            for i in range(len(phases))
        ]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("timelines", nargs="+", help="one file per client, named after it")
    ap.add_argument("--phases", default="")
    ap.add_argument("--link-kbit", type=float)
    ap.add_argument("--skip", type=float, default=0.0)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    phases = [float(p) for p in a.phases.split(",") if p]
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
            near = min(partner, key=lambda u: abs(u["t"] - t["t"]), default=None)
            t["partner_sent_kbps"] = near.get("sent_kbps") if near else None
    results = {name: evaluate(by_client[name], phases, a.link_kbit, a.skip) for name in names}
    print(json.dumps(results))
    if not a.check:
        return 0
    failures = []
    for name, r in results.items():
        ticks = [t for t in by_client[name] if t["t"] > a.skip]
        last = ticks[-int(len(ticks) / 2):]
        sent = [t["partner_sent_kbps"] for t in last if t.get("partner_sent_kbps") is not None]
        # The functional check: once adapted, the partner sends below the link, and video keeps
        # coming (pictures in every second, no freeze) with the tone in the audio.
        if not sent or statistics.median(sent) >= a.link_kbit:
            failures.append(f"{name}: partner still sends {statistics.median(sent) if sent else None} kbit/s on a {a.link_kbit} kbit/s link")
        for i in range(0, len(last) - 1, 2):
            if last[i]["frames"] + last[i + 1]["frames"] == 0:
                failures.append(f"{name}: no video in the second ending at {last[i + 1]['t']} s")
        if r["audio_continuity"] is None or r["audio_continuity"] < 0.9:
            failures.append(f"{name}: the tone in {r['audio_continuity']} of audio frames")
    for f in failures:
        print("link-test: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
