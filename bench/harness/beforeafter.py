#!/usr/bin/env python3
"""Compares two bench/compare.sh runs of the same mode: what changed for Cairn, and against the peers.

    bench/harness/beforeafter.py --before DIR --after DIR [--title TEXT]

Prints Markdown: per row (stack, transport, workload) Cairn's median before and after, after / before,
and Cairn / best peer in each run; then the depth rows, and peak RSS and CPU per request per stack.
The peers are measured again in the second run, so "Cairn / best" is the fair comparison across runs (the
machine's load differs between runs; the ratio was measured with alternation inside each run). Standard
library only; reuses report.py's parsing.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402


def machine_line(out, key):
    for line in open(os.path.join(out, "machine.txt")):
        for part in line.split():
            if part.startswith(key + "="):
                return part[len(key) + 1:]
    return "?"


def ratio_text(v):
    return "-" if v is None else f"{v:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--title", default="Before and after")
    a = ap.parse_args()

    b_med, _, units, _ = report.load(a.before)
    a_med, _, a_units, _ = report.load(a.after)
    units.update(a_units)
    b_rows = report.peer_table(b_med, units)
    a_rows = report.peer_table(a_med, units)

    md = [f"### {a.title}\n"]
    md.append(f"Before: Cairn {machine_line(a.before, 'cairn')}, run {machine_line(a.before, 'date')}. "
              f"After: Cairn {machine_line(a.after, 'cairn')}, run {machine_line(a.after, 'date')}.\n")
    md.append("| stack | transport | workload | unit | Cairn before | Cairn after | after / before "
              "| Cairn / best peer before | Cairn / best peer after |")
    md.append("|---|---|---|---|---|---|---|---|---|")
    keys = list(a_rows.keys()) + [k for k in b_rows if k not in a_rows]
    for k in keys:
        s, t, w = k
        bc = b_rows.get(k, {})
        ac = a_rows.get(k, {})
        cb, ca = bc.get("cairn"), ac.get("cairn")
        change = ca / cb if cb and ca else None
        _, rb = report.ratio(bc) if bc else (None, None)
        _, ra = report.ratio(ac) if ac else (None, None)
        md.append(f"| {s} | {t} | {report.WORKLOAD_TITLE.get(w, w)} | {units.get(w, '')} | {report.fmt(cb)} "
                  f"| {report.fmt(ca)} | {ratio_text(change)} | {ratio_text(rb)} | {ratio_text(ra)} |")
    md.append("")

    depth = sorted({(w, s) for (s, t, w, srv) in a_med if s.startswith("depth")} |
                   {(w, s) for (s, t, w, srv) in b_med if s.startswith("depth")})
    if depth:
        md.append("| depth row | Cairn before | Cairn after | after / before |")
        md.append("|---|---|---|---|")
        for (s, t, w, srv) in sorted(a_med, key=lambda k: (k[2], k[3])):
            if s != "depth":
                continue
            vb = b_med.get((s, t, w, srv))
            va = a_med[(s, t, w, srv)]
            md.append(f"| {report.WORKLOAD_TITLE.get(w, w)} {srv} | {report.fmt(vb)} | {report.fmt(va)} "
                      f"| {ratio_text(va / vb if vb else None)} |")
        md.append("")

    rb = {(r["stack"], r["transport"], r["server"]): r for r in report.load_resources(a.before)}
    ra = {(r["stack"], r["transport"], r["server"]): r for r in report.load_resources(a.after)}
    if ra:
        md.append("| stack | transport | server | peak RSS MiB before | after | CPU us / fio request before | after |")
        md.append("|---|---|---|---|---|---|---|")
        for key, r in ra.items():
            old = rb.get(key, {})
            md.append(f"| {key[0]} | {key[1]} | {key[2]} | {report.fmt(old.get('rss_mib'))} | "
                      f"{report.fmt(r.get('rss_mib'))} | {report.fmt(old.get('us_per_req'))} | "
                      f"{report.fmt(r.get('us_per_req'))} |")
        md.append("")
    print("\n".join(md))


if __name__ == "__main__":
    main()
