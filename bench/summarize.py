"""Medians of a bench/run.sh results file (JSON lines), as a markdown table."""
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(name, kind, path):
    vals = []
    for r in rows:
        if r["label"] != name or r["kind"] != kind: continue
        v = r["result"]
        for k in path: v = v.get(k) if isinstance(v, dict) else None
        if v is not None: vals.append(v)
    return statistics.median(vals) if vals else None
metrics = [
    ("sessions/s, closed loop", "closed", ["sessions_per_sec"], "{:.0f}"),
    ("server CPU ms/session (closed)", "closed", ["server_cpu_ms_per_session"], "{:.3f}"),
    ("server CPU ms/session (open)", "open", ["server_cpu_ms_per_session"], "{:.3f}"),
    ("relay hop p50 µs (open)", "open", ["hop_us", "p50"], "{:.0f}"),
    ("relay hop p99 µs (open)", "open", ["hop_us", "p99"], "{:.0f}"),
    ("session p50 ms (open)", "open", ["session_us", "p50"], "{:.2f}"),
    ("session p99 ms (open)", "open", ["session_us", "p99"], "{:.2f}"),
    ("idle bytes/connection", "idle", ["bytes_per_connection"], "{:.0f}"),
    ("failed sessions (closed+open)", None, None, "{:.0f}"),
    ("loadgen CPU ms/session (closed)", "closed", ["loadgen_cpu_ms_per_session"], "{:.3f}"),
]
floor = any(r["label"] == "floor" for r in rows)
print(f"\n{len(set(r['run'] for r in rows))} runs, medians\n")
if floor:
    print("| metric | strangers | node ws | ratio | floor | floor/node |\n|---|---:|---:|---:|---:|---:|")
else:
    print("| metric | strangers | node ws | ratio |\n|---|---:|---:|---:|")
names = ("strangers", "node", "floor") if floor else ("strangers", "node")
for title, kind, path, fmt in metrics:
    if kind is None:
        vals = [sum(r["result"].get("failed", 0) for r in rows if r["label"] == n and r["kind"] in ("closed", "open")) for n in names]
    else:
        vals = [med(n, kind, path) for n in names]
    if title.startswith("session "):
        vals = [v / 1000 if v is not None else None for v in vals]
    cells = [fmt.format(v) if v is not None else "-" for v in vals]
    ratio = f"{vals[0] / vals[1]:.2f}" if all(v for v in vals[:2]) else "-"
    line = f"| {title} | {cells[0]} | {cells[1]} | {ratio} |"
    if floor:
        floor_ratio = f"{vals[2] / vals[1]:.2f}" if vals[2] and vals[1] else "-"
        line += f" {cells[2]} | {floor_ratio} |"
    print(line)
# Per-run ratios of the closed-loop CPU, the headline figure, to show the spread behind the median.
for name in names[:1] + names[2:]:
    per_run = []
    for run in sorted(set(r["run"] for r in rows)):
        v = {r["label"]: r["result"].get("server_cpu_ms_per_session") for r in rows if r["run"] == run and r["kind"] == "closed"}
        if v.get(name) and v.get("node"):
            per_run.append(f"{v[name] / v['node']:.3f}")
    print(f"\nclosed-loop CPU per session, {name} / node, per run: {', '.join(per_run)}")
