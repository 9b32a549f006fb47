#!/usr/bin/env python3
"""Turns `swift package benchmark` text output into the Markdown tables of Docs/Performance.md.

Reads one or more saved outputs (or stdin). For every benchmark it prints the median (p50) of the
scaled wall clock, in ns per operation, per run; then each suite's ratios per run, with the
median over runs. Ratios are only ever taken between figures of the same run.

    swift package --disable-sandbox benchmark --no-progress > run1.txt   # repeat: run2.txt, ...
    python3 Scripts/medians.py run1.txt run2.txt run3.txt
"""
import re
import statistics
import sys

SIZE_ORDER = ["64 B ", "4 KiB ", "64 KiB ", "1 MiB "]


def parse(lines):
    """benchmark name -> {"ns": p50 ns/op, "mallocs": max mallocs/op, custom metric -> p50}."""
    name = None
    results = {}
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] not in "│╒╞├╘=" and not stripped.startswith(
            ("Build", "Running", "Benchmark", "[", "Host", "Target", "Warning", "Note", "Baseline", "#", "Support", "your", "identifier", ".package", ".product", ".plugin", "rc=")
        ) and " up " not in stripped:
            name = stripped
            continue
        if not name or not stripped.startswith("│") or stripped.startswith("│ Metric"):
            continue
        cells = [c.strip() for c in stripped.strip("│").split("│")]
        if len(cells) < 9:
            continue
        metric = cells[0]
        entry = results.setdefault(name, {})
        if metric.startswith("Time (wall clock)"):
            unit = re.search(r"\((ns|us|μs|ms|s)\)", metric)
            scale = {"ns": 1, "us": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9}[unit.group(1)] if unit else 1
            entry["ns"] = float(cells[3]) * scale
        elif metric.startswith("Time (total CPU)"):
            unit = re.search(r"\((ns|us|μs|ms|s)\)", metric)
            scale = {"ns": 1, "us": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9}[unit.group(1)] if unit else 1
            entry["cpu"] = float(cells[3]) * scale
        elif metric.startswith("Malloc (total)"):
            entry["mallocs"] = cells[7]
        elif not metric.startswith(("Throughput", "Time")):
            # package-benchmark prints large values of a custom metric scaled, with the unit
            # after the name ("… ×1000 (K)"): undo the scaling so the key and value are plain.
            name_part = metric.rstrip(" *")
            scale = 1
            unit = re.search(r" \((K|M|G)\)$", name_part)
            if unit:
                scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}[unit.group(1)]
                name_part = name_part[: unit.start()]
            entry[name_part] = str(float(cells[3]) * scale) if scale != 1 else cells[3]
    return results


def paired_values(runs, prefix, metric):
    """Per run, the median sample of a paired benchmark's custom ratio metric (stored ×1000)."""
    values = []
    for run in runs:
        for key, entry in run.items():
            if key.startswith(prefix) and metric in entry:
                values.append(float(entry[metric]) / 1000)
    return values


def order(key):
    for index, prefix in enumerate(SIZE_ORDER):
        if key.startswith(prefix):
            return (index, key)
    return (len(SIZE_ORDER), key)


def fmt(value):
    return "–" if value is None else f"{value:,.0f}"


def find(run, prefix):
    for key, entry in run.items():
        if key.startswith(prefix) and "ns" in entry:
            return entry["ns"]
    return None


def ratio_cell(values, digits=2, suffix="×"):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    runs = " / ".join(f"{v:.{digits}f}" for v in values)
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{suffix}"
    return f"**{statistics.median(values):.{digits}f}{suffix}** ({runs})"


def main():
    paths = sys.argv[1:]
    runs = [parse(open(p, encoding="utf-8")) for p in paths] if paths else [parse(sys.stdin)]
    names = sorted({n for run in runs for n in run}, key=order)

    header = " | ".join(f"run {i + 1}" for i in range(len(runs)))
    print(f"| benchmark | median ns/op: {header} | mallocs/op (max) |")
    print("| --- | " + " | ".join("---:" for _ in runs) + " | ---: |")
    for name in names:
        cells = " | ".join(fmt(run.get(name, {}).get("ns")) for run in runs)
        mallocs = next((run[name]["mallocs"] for run in runs if "mallocs" in run.get(name, {})), "–")
        print(f"| {name} | {cells} | {mallocs} |")

    extras = sorted({m for run in runs for entry in run.values() for m in entry if m not in ("ns", "mallocs", "cpu")})
    if extras:
        print()
        print("| benchmark | metric | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " |")
        print("| --- | --- | " + " | ".join("---:" for _ in runs) + " |")
        for name in names:
            for metric in extras:
                values = [run.get(name, {}).get(metric) for run in runs]
                if any(values):
                    print(f"| {name} | {metric} | " + " | ".join(v or "–" for v in values) + " |")

    locked_memory(runs)
    ledger(runs)
    concurrent_writers(runs)
    concurrent_paired(runs)
    request_scope(runs)


def locked_memory(runs):
    targets = {"64 B": 3.0, "4 KiB": 2.0, "1 MiB": 1.5}
    rows = []
    for size in ["64 B", "4 KiB", "64 KiB", "1 MiB"]:
        for backend in ("pool.secretmem", "pool.locked"):
            per_run = []
            for run in runs:
                malloc = find(run, f"{size} malloc+memset")
                pool = find(run, f"{size} {backend}")
                sodium = find(run, f"{size} sodium_malloc")
                fused = find(run, f"{size} malloc+fused")
                slot = find(run, f"{size} mlock-slot+fused")
                if malloc and pool:
                    per_run.append((pool / malloc, sodium / pool if sodium else None,
                                    fused / malloc if fused else None, slot / malloc if slot else None))
            if per_run:
                rows.append((size, backend, per_run))
    if rows:
        print_locked_rows(rows, targets)
    print_locked_paired(runs, targets)


def print_locked_paired(runs, targets):
    paired = []
    for size in ["64 B", "4 KiB", "64 KiB", "1 MiB"]:
        for backend in ("pool.secretmem", "pool.locked"):
            values = paired_values(runs, f"{size} paired: {backend}", "pool ÷ malloc, ×1000")
            if values:
                paired.append((size, backend, values))
    if paired:
        print()
        print("| size | backend | pool ÷ malloc, paired (median sample per run) | target |")
        print("| --- | --- | ---: | --- |")
        for size, backend, values in paired:
            target = targets.get(size)
            verdict = f"≤ {target:g}× " + ("✓" if statistics.median(values) <= target else "✗") if target else ""
            print(f"| {size} | {backend} | {ratio_cell(values)} | {verdict} |")


def print_locked_rows(rows, targets):
    print()
    print("| size | backend | pool ÷ malloc | target | malloc+fused ÷ malloc | mlock-slot+fused ÷ malloc | sodium_malloc ÷ pool |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
    for size, backend, per_run in rows:
        pool_ratio = [r[0] for r in per_run]
        target = targets.get(size)
        verdict = ""
        if target is not None:
            verdict = f"≤ {target:g}× " + ("✓" if statistics.median(pool_ratio) <= target else "✗")
        faster = [r[1] for r in per_run]
        faster_cell = ratio_cell(faster, 0)
        if size == "4 KiB" and all(f is not None for f in faster):
            faster_cell += " ≥ 50× " + ("✓" if statistics.median(faster) >= 50 else "✗")
        print(f"| {size} | {backend.removeprefix('pool.')} | {ratio_cell(pool_ratio)} | {verdict} | "
              f"{ratio_cell([r[2] for r in per_run])} | {ratio_cell([r[3] for r in per_run])} | {faster_cell} |")



def ledger(runs):
    per_run = []
    for run in runs:
        ours = find(run, "durable append: ledger, group commit")
        sqlite = find(run, "durable append: SQLite")
        naive = find(run, "durable append: naive")
        cpu = find(run, "durable append: ledger, append only")
        pipelined = find(run, "durable append: ledger, pipelined")
        if ours and sqlite:
            per_run.append((ours, sqlite, naive, cpu, pipelined))
    if not per_run:
        return
    print()
    print("| run | ledger group commit records/s | SQLite records/s | naive fsync records/s | ledger ÷ SQLite (target ≥ 1.5×) | ledger CPU share | ledger pipelined records/s | pipelined ÷ SQLite |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    speedups, pipelined_speedups = [], []
    for index, (ours, sqlite, naive, cpu, pipelined) in enumerate(per_run):
        speedups.append(sqlite / ours)
        if pipelined:
            pipelined_speedups.append(sqlite / pipelined)
        print(f"| {index + 1} | {1e9 / ours:,.0f} | {1e9 / sqlite:,.0f} | {fmt(1e9 / naive if naive else None)} | "
              f"{sqlite / ours:.2f}× | {f'{cpu / ours:.0%}' if cpu else '–'} | "
              f"{fmt(1e9 / pipelined if pipelined else None)} | {f'{sqlite / pipelined:.2f}×' if pipelined else '–'} |")
    if len(per_run) > 1:
        verdict = "✓" if statistics.median(speedups) >= 1.5 else "✗"
        pipelined_cell = f"**{statistics.median(pipelined_speedups):.2f}×**" if pipelined_speedups else "–"
        print(f"| median | | | | **{statistics.median(speedups):.2f}×** {verdict} | | | {pipelined_cell} |")


def custom(run, prefix, metric):
    """A custom metric's median sample, with package-benchmark's (K)/(M) scale applied."""
    for key, entry in run.items():
        if not key.startswith(prefix):
            continue
        for name, value in entry.items():
            if name == metric or name.startswith(metric + " ("):
                scale = 1_000_000 if name.endswith("(M)") else 1_000 if name.endswith("(K)") else 1
                return float(value) * scale
    return None


def concurrent_writers(runs):
    """Issue 13 §3: concurrent durable writers, per run and N, with the targets at N = 64."""
    rows = []
    for index, run in enumerate(runs):
        naive = find(run, "durable append: naive")
        # One sync time: a lone writer's median wait (one append + one fdatasync).
        sync = custom(run, "concurrent durable writers: ledger, 1 threads", "wait p50 (µs)")
        for n in (1, 8, 64):
            ledger = f"concurrent durable writers: ledger, {n} threads"
            tasks = f"concurrent durable writers: ledger, {n} tasks"
            shared = f"concurrent durable writers: SQLite WAL synchronous=FULL, {n} threads, one shared"
            per_writer = f"concurrent durable writers: SQLite WAL synchronous=FULL, {n} threads, a connection"
            ours = custom(run, ledger, "receipts/s")
            if ours is None:
                continue
            sqlite = [v for v in (custom(run, shared, "receipts/s"), custom(run, per_writer, "receipts/s")) if v]
            p99 = custom(run, ledger, "wait p99 (µs)")
            rows.append((index + 1, n, naive, ours, custom(run, tasks, "receipts/s"),
                         custom(run, shared, "receipts/s"), custom(run, per_writer, "receipts/s"),
                         ours / max(sqlite) if sqlite else None,
                         custom(run, ledger, "wait p50 (µs)"), p99, p99 / sync if p99 and sync else None,
                         custom(run, ledger, "receipts per fdatasync ×100"),
                         custom(run, shared, "wait p99 (µs)"), custom(run, ledger, "µs per fdatasync round"),
                         custom(run, tasks, "wait p99 (µs)")))
    if not rows:
        return
    print()
    print("| run | N | naive fsync/s | ledger receipts/s | ledger async receipts/s | SQLite shared | SQLite per writer | "
          "ledger ÷ best SQLite | ledger p50 µs | ledger p99 µs | async p99 µs | receipts per fdatasync | µs per round | "
          "p99 ÷ round | p99 ÷ lone sync | SQLite shared p99 µs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (run, n, naive, ours, tasks, shared, per_writer, ratio, p50, p99, p99_syncs, per_sync, sqlite_p99, round_us, async_p99) in rows:
        print(f"| {run} | {n} | {fmt(1e9 / naive if naive else None)} | {fmt(ours)} | {fmt(tasks)} | {fmt(shared)} | "
              f"{fmt(per_writer)} | {f'{ratio:.1f}×' if ratio else '–'} | {fmt(p50)} | {fmt(p99)} | {fmt(async_p99)} | "
              f"{f'{per_sync / 100:.1f}' if per_sync else '–'} | {fmt(round_us)} | "
              f"{f'{p99 / round_us:.1f}' if p99 and round_us else '–'} | "
              f"{f'{p99_syncs:.1f}' if p99_syncs else '–'} | {fmt(sqlite_p99)} |")
    at64 = [r for r in rows if r[1] == 64 and r[7]]
    if len(at64) > 1:
        ratios = [r[7] for r in at64]
        rounds = [r[9] / r[13] for r in at64 if r[9] and r[13]]
        lone = [r[10] for r in at64 if r[10]]
        def verdict(values):
            if not values:
                return "–"
            return f"**{statistics.median(values):.1f}** {'✓' if statistics.median(values) <= 3 else '✗'} (≤ 3)"
        print(f"| median, N = 64 | | | | | | | **{statistics.median(ratios):.1f}×** "
              f"{'✓' if statistics.median(ratios) >= 10 else '✗'} (≥ 10×) | | | | | | {verdict(rounds)} | {verdict(lone)} | |")


def concurrent_paired(runs):
    values = [custom(run, "concurrent durable writers paired", "ledger ÷ SQLite shared, receipts/s ×1000") for run in runs]
    values = [v / 1000 for v in values if v is not None]
    if not values:
        return
    print()
    print("| measure | median over runs (each run) | target |")
    print("| --- | ---: | --- |")
    print(f"| 64 writers: ledger ÷ SQLite shared connection, receipts/s, paired (median sample) | {ratio_cell(values, 1)} | "
          f"≥ 10× {'✓' if statistics.median(values) >= 10 else '✗'} |")


def request_scope(runs):
    rows = []
    for size in ["4 KiB", "64 KiB"]:
        values = []
        for run in runs:
            ours = find(run, f"{size} lifecycle")
            raw = find(run, f"{size} raw AEAD")
            if ours and raw:
                values.append(ours / raw)
        if values:
            rows.append((f"{size} lifecycle ÷ 2 × raw AEAD", values, "≤ 1.3×", lambda m: m <= 1.3))
    for size in ["4 KiB", "64 KiB"]:
        values = paired_values(runs, f"{size} paired", "lifecycle ÷ raw AEAD ×2, ×1000")
        if values:
            rows.append((f"{size} lifecycle ÷ 2 × raw AEAD, paired (alternating blocks, median sample)", values, "≤ 1.3×", lambda m: m <= 1.3))
        values = paired_values(runs, f"{size} paired", "guarded lifecycle ÷ raw AEAD ×2, ×1000")
        if values:
            rows.append((f"{size} lifecycle in guarded mode ÷ 2 × raw AEAD, paired (the cost of guarded mode)", values, "reported", lambda m: True))
    for metric, label in [
        ("sealing ÷ raw, throughput ×1000", "scope sealing ÷ raw AEAD (reused buffer)"),
        ("sealing + discard ÷ raw, throughput ×1000", "scope sealing + discard ÷ raw AEAD (reused buffer)"),
        ("sealing + discard ÷ raw storing the stream, throughput ×1000", "scope sealing + discard ÷ raw AEAD storing the stream"),
    ]:
        values = paired_values(runs, "1 MiB stream in 4 KiB chunks: paired", metric)
        if values:
            rows.append((f"1 MiB in 4 KiB chunks: {label}, throughput, paired (median sample)", values, "≥ 0.90", lambda m: m >= 0.9))
    for label, prefix in [
        ("raw AEAD into one reused buffer", "1 MiB stream in 4 KiB chunks: raw seal ×256 ("),
        ("raw AEAD storing the stream (1 MiB heap buffer)", "1 MiB stream in 4 KiB chunks: raw seal ×256 into"),
    ]:
        for scope_label, scope_prefix in [
            ("scope (append + discard)", "1 MiB stream in 4 KiB chunks: scope append ×256 + discard"),
            ("scope sealing only", "1 MiB stream in 4 KiB chunks: scope append ×256, sealing only"),
        ]:
            stream = []
            for run in runs:
                ours = find(run, scope_prefix)
                raw = find(run, prefix)
                if ours and raw:
                    stream.append(raw / ours)
            if stream:
                rows.append((f"1 MiB in 4 KiB chunks: {scope_label} ÷ {label}, throughput", stream, "≥ 0.90", lambda m: m >= 0.9))
    def cpu(run, prefix):
        for key, entry in run.items():
            if key.startswith(prefix) and "cores busy ×100" in entry:
                return float(entry["cores busy ×100"]) / 100
        return None

    threads = []
    for run in runs:
        one = find(run, "scopes/s: 4 KiB lifecycle on 1 thread")
        two = find(run, "scopes/s: 4 KiB lifecycle on 2 threads")
        if one and two:
            threads.append((1e9 / one, 1e9 / two, cpu(run, "scopes/s: 4 KiB lifecycle on 2 threads")))
    if not rows and not threads:
        return
    print()
    print("| measure | median over runs (each run) | target |")
    print("| --- | ---: | --- |")
    for label, values, target, ok in rows:
        print(f"| {label} | {ratio_cell(values)} | {target} {'✓' if ok(statistics.median(values)) else '✗'} |")
    for index, (one, two, busy) in enumerate(threads):
        cores = f"; 2-thread run kept {busy:.2f} cores busy" if busy else ""
        print(f"| scopes/s, run {index + 1}: 1 thread / 2 threads | {one:,.0f} / {two:,.0f} ({two / one:.2f}×{cores}) | |")


if __name__ == "__main__":
    main()
