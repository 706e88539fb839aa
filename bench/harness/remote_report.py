#!/usr/bin/env python3
"""Side-by-side table for compare.sh's rbd and nbd-hop groups (issue 21), printed as Markdown on stdout.

    bench/harness/remote_report.py RESULTS.TSV

rbd: Cairn's rbd: leaf and qemu-nbd's rbd driver (both over NBD, fio's nbd engine) against rbd bench
(librbd in-process, no NBD), medians over rounds; goals: Cairn >= qemu-nbd, and Cairn >= 0.8 x rbd bench.
nbd-hop: the remote export read directly, through a Cairn nbd: leaf, and through nbdkit's nbd plugin.
Standard library only.
"""
import collections
import statistics
import sys

WORKLOAD_TITLE = {
    "copy-read": "nbdcopy to null:", "rr4k-q32": "4k randread qd32", "rw4k-q32": "4k randwrite qd32",
    "sr1m-q8": "1M seq read qd8", "sw1m-q8": "1M seq write qd8", "rr4k-q1": "4k randread qd1",
    "rw4k-q1": "4k randwrite qd1", "mix4k-q1": "4k 70/30 qd1", "mix4k-q32": "4k 70/30 qd32",
    "copy-write": "nbdcopy from a file",
}


def load(path):
    values = collections.defaultdict(list)
    units = {}
    with open(path) as f:
        next(f)
        for line in f:
            stack, _transport, server, workload, _round, value, unit, _bytes = line.rstrip("\n").split("\t")
            if value == "NaN":
                continue
            values[(stack, server, workload)].append(float(value))
            units[workload] = unit
    return {k: statistics.median(v) for k, v in values.items()}, values, units


def fmt(v):
    if v is None:
        return "-"
    return f"{v / 1000:.1f}k" if v >= 10000 else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


def ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}"


def spread(values, key):
    v = values.get(key)
    return f"{max(v) / min(v):.2f}" if v and min(v) > 0 else "-"


def main():
    med, values, units = load(sys.argv[1])
    workloads = sorted({w for (_, _, w) in med}, key=lambda w: list(WORKLOAD_TITLE).index(w) if w in WORKLOAD_TITLE else 99)
    out = []
    if any(s == "rbd" for (s, _, _) in med):
        out += ["", "### RBD: Cairn's rbd: leaf vs qemu-nbd's rbd driver vs rbd bench (medians)", "",
                "| workload | unit | Cairn | qemu-nbd | rbd bench | Cairn / qemu-nbd | Cairn / rbd bench | max/min Cairn |",
                "|---|---|---|---|---|---|---|---|"]
        for w in workloads:
            c, q, b = med.get(("rbd", "cairn", w)), med.get(("rbd", "qemu-nbd", w)), med.get(("rbd-librbd", "rbd-bench", w))
            if c is None and q is None and b is None:
                continue
            out.append(f"| {WORKLOAD_TITLE.get(w, w)} | {units.get(w, '')} | {fmt(c)} | {fmt(q)} | {fmt(b)} | "
                       f"{ratio(c, q)} | {ratio(c, b)} | {spread(values, ('rbd', 'cairn', w))} |")
    if any(s == "nbd-hop" for (s, _, _) in med):
        out += ["", "### nbd: hop: the remote read directly vs through Cairn vs through nbdkit's nbd plugin (medians)", "",
                "| workload | unit | direct | Cairn hop | nbdkit hop | Cairn hop / direct | Cairn hop / nbdkit hop |",
                "|---|---|---|---|---|---|---|"]
        for w in workloads:
            d, c, k = med.get(("nbd-hop-direct", "direct", w)), med.get(("nbd-hop", "cairn", w)), med.get(("nbd-hop", "nbdkit", w))
            if d is None and c is None and k is None:
                continue
            out.append(f"| {WORKLOAD_TITLE.get(w, w)} | {units.get(w, '')} | {fmt(d)} | {fmt(c)} | {fmt(k)} | "
                       f"{ratio(c, d)} | {ratio(c, k)} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
