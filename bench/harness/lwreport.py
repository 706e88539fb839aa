#!/usr/bin/env python3
"""Summary of compare.sh's log-writes groups (log-writes-file, log-writes-mem, log-replay) as markdown on stdout.

    bench/harness/lwreport.py --out DIR

Reads DIR/machine.txt, DIR/log-writes.tsv (one line per fio run: write IOPS, fio's write and FLUSH counts,
server CPU ticks), DIR/log-writes-counts.tsv (entries counted in the log server-side) and the log-replay
lines of DIR/results.tsv. Medians over rounds; the cost ratio is linear / log-writes for IOPS and
log-writes / linear for CPU per write (both: how many times the cost without log-writes; goal < 2).
"""
import argparse
import collections
import csv
import os
import statistics


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    md = ["### log-writes rows (issue 19)\n", "```"]
    md += open(os.path.join(out, "machine.txt")).read().strip().splitlines()
    md += ["```\n"]

    runs = collections.defaultdict(list)  # (stack, workload, subject) -> [(iops, us_per_write, writes/flush)]
    for r in rows(os.path.join(out, "log-writes.tsv")):
        try:
            iops, writes, flushes = float(r["write_iops"]), int(r["writes"]), int(r["flushes"])
            us = int(r["cpu_ticks"]) / int(r["clk_tck"]) * 1e6 / writes
        except (ValueError, ZeroDivisionError):
            continue
        runs[(r["stack"], r["workload"], r["subject"])].append((iops, us, writes / flushes if flushes else float("inf")))
    if runs:
        md.append("4 KiB random writes with fio --fsync=32 over NBD (Unix socket); medians over rounds "
                  "(rounds in brackets). Cost ratio: how many times the cost of the same stack without "
                  "log-writes (IOPS: linear / log-writes; CPU: log-writes / linear); the goal is < 2.\n")
        md.append("| stack | workload | writes per FLUSH (fio) | IOPS linear | IOPS log-writes | IOPS cost ratio "
                  "| CPU us/write linear | CPU us/write log-writes | CPU cost ratio | < 2x |")
        md.append("|---|---|---|---|---|---|---|---|---|---|")
        for (stack, w) in sorted({(k[0], k[1]) for k in runs}):
            a, b = runs.get((stack, w, "linear"), []), runs.get((stack, w, "log-writes"), [])
            if not a or not b:
                continue
            ia, ib = statistics.median(x[0] for x in a), statistics.median(x[0] for x in b)
            ca, cb = statistics.median(x[1] for x in a), statistics.median(x[1] for x in b)
            wpf = statistics.median(x[2] for x in a + b)
            ir, cr = ia / ib, cb / ca
            fmt = lambda xs, i, p: "[" + " ".join(f"{x[i]:.{p}f}" for x in xs) + "]"
            md.append(f"| {stack} | {w} | {wpf:.1f} | {ia:.0f} {fmt(a, 0, 0)} | {ib:.0f} {fmt(b, 0, 0)} | {ir:.2f} "
                      f"| {ca:.1f} {fmt(a, 1, 1)} | {cb:.1f} {fmt(b, 1, 1)} | {cr:.2f} | "
                      f"{'yes' if ir < 2 and cr < 2 else 'NO'} |")
        md.append("")
    counts = rows(os.path.join(out, "log-writes-counts.tsv"))
    if counts:
        md.append("Server-side count (entries of each log-writes server's log, read by harness/lwcount.py) "
                  "against what fio sent that server (warm-up and workloads; the few writes of the "
                  "read-after-write check before them are in the log only):\n")
        md.append("| stack | round | log writes | log FLUSHes | log complete | fio writes | fio FLUSHes |")
        md.append("|---|---|---|---|---|---|---|")
        for c in counts:
            md.append(f"| {c['stack']} | {c['round']} | {c['log_writes']} | {c['log_flushes']} | {c['log_complete']} "
                      f"| {c['fio_writes']} | {c['fio_flushes']} |")
        md.append("")
    rep = collections.defaultdict(list)
    entries = {}
    for r in rows(os.path.join(out, "results.tsv")):
        if r["stack"] == "log-replay" and r["unit"] in ("entries/s", "s"):
            rep[r["workload"]].append(float(r["value"]))
            entries[r["workload"]] = int(r["bytes"])
    if rep:
        info = open(os.path.join(out, "log-replay.txt")).read().split() if os.path.exists(
            os.path.join(out, "log-replay.txt")) else []
        total = info[2] if len(info) > 2 else "?"
        md.append(f"`cairn log-writes replay LOG --to FILE` of a log made by the log-writes target ({total} entries: "
                  "4 KiB writes, a FLUSH every 32, 20 marks), wall time of the command including "
                  "the JVM's start:\n")
        md.append("| case | entries replayed | entries/s (median; start-up: seconds) | rounds |")
        md.append("|---|---|---|---|")
        for c in ["all", "limit-half", "end-mark-half", "startup"]:
            if c in rep:
                p = 2 if entries[c] == 0 else 0
                md.append(f"| {c} | {entries[c]} | {statistics.median(rep[c]):.{p}f} | "
                          + " ".join(f"{v:.{p}f}" for v in rep[c]) + " |")
        md.append("")
    print("\n".join(md))


if __name__ == "__main__":
    main()
