#!/usr/bin/env python3
"""Reads `swift package benchmark` text output on stdin and prints, as Markdown, the median (p50)
of every benchmark's scaled wall clock (ns per operation), then the LockedMemory ratios.

    swift package --disable-sandbox benchmark --target LockedMemory --no-progress | python3 Scripts/medians.py
"""
import re
import sys

name = None
medians = {}  # benchmark name -> p50 ns per operation
mallocs = {}  # benchmark name -> p100 of mallocs per operation
for line in sys.stdin:
    line = line.rstrip("\n")
    stripped = line.strip()
    if stripped and not stripped[0] in "│╒╞├╘=" and not stripped.startswith(("Build", "Running", "Benchmark", "[", "Host", "Target")):
        name = stripped
    if name and stripped.startswith("│ Time (wall clock)"):
        cells = [c.strip() for c in stripped.strip("│").split("│")]
        unit = re.search(r"\((ns|us|μs|ms|s)\)", cells[0])
        scale = {"ns": 1, "us": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9}[unit.group(1)] if unit else 1
        # columns: metric, p0, p25, p50, ...
        medians[name] = float(cells[3]) * scale
    if name and stripped.startswith("│ Malloc (total)"):
        cells = [c.strip() for c in stripped.strip("│").split("│")]
        mallocs[name] = cells[7]

def order(key):
    for index, prefix in enumerate(["64 B ", "4 KiB ", "64 KiB ", "1 MiB "]):
        if key.startswith(prefix):
            return (index, key)
    return (len(medians), key)

print("| benchmark | median ns/op | mallocs/op (max) |")
print("| --- | ---: | ---: |")
for key in sorted(medians, key=order):
    print(f"| {key} | {medians[key]:,.0f} | {mallocs.get(key, '–')} |")

# LockedMemory: "<size> <variant> ..." names.
sizes = ["64 B", "4 KiB", "64 KiB", "1 MiB"]
targets = {"64 B": 3.0, "4 KiB": 2.0, "1 MiB": 1.5}
def find(size, prefix):
    for key, value in medians.items():
        if key.startswith(f"{size} {prefix}"):
            return value
    return None
rows = []
for size in sizes:
    malloc = find(size, "malloc+memset")
    verify = find(size, "malloc+verify")
    fused = find(size, "malloc+fused")
    slot = find(size, "mlock-slot+fused")
    sodium = find(size, "sodium_malloc")
    for backend in ("pool.secretmem", "pool.locked"):
        pool = find(size, backend)
        if pool is None or malloc is None:
            continue
        target = targets.get(size)
        rows.append((size, backend, malloc, verify, fused, slot, sodium, pool, target))
if rows:
    print()
    print("| size | backend | malloc | malloc+verify | malloc+fused | mlock-slot+fused | sodium_malloc | pool | pool ÷ malloc (target) | sodium_malloc ÷ pool |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    def fmt(v):
        return "–" if v is None else f"{v:,.0f}"
    for size, backend, malloc, verify, fused, slot, sodium, pool, target in rows:
        ratio = pool / malloc
        goal = "" if target is None else f" (≤ {target:g}× {'✓' if ratio <= target else '✗'})"
        faster = "–" if sodium is None else f"{sodium / pool:,.0f}×" + (" (≥ 50× " + ("✓" if sodium / pool >= 50 else "✗") + ")" if size == "4 KiB" else "")
        print(f"| {size} | {backend.removeprefix('pool.')} | {fmt(malloc)} | {fmt(verify)} | {fmt(fused)} | {fmt(slot)} | {fmt(sodium)} | {fmt(pool)} | {ratio:.2f}×{goal} | {faster} |")
