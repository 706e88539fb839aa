#!/usr/bin/env python3
"""Turns a bench/compare.sh run (results.tsv, resources.tsv, machine.txt) into summary.md and PNG charts.

    bench/harness/report.py --out DIR [--charts DIR] [--mode quick|full]

Every value in results.tsv is a throughput (IOPS, MiB/s, GiB/s): higher is better. The summary shows the
median over rounds per server, and Cairn / best peer (the best median among the other servers of the same
stack and transport). Charts are drawn with gnuplot (Debian package gnuplot-nox); without it, only the
Markdown is written. Standard library only.
"""
import argparse
import collections
import math
import os
import shutil
import statistics
import subprocess

COLUMNS = ["cairn", "nbdkit", "qemu-nbd", "nbd-server"]
COLUMN_OF = {"cairn": "cairn", "nbdkit": "nbdkit", "nbdkit-split": "nbdkit", "qemu-nbd": "qemu-nbd",
             "nbd-server": "nbd-server"}
STACK_ORDER = ["plain-mem", "plain-file", "linear2", "snapshot", "snapshot-n", "thin", "thin-snap", "striped",
               "cold-mem", "cold-file", "depth", "tls", "tls-plaintext"]
STACK_TITLE = {
    "plain-mem": "plain store, memory (Cairn MemoryStore; nbdkit memory)",
    "plain-file": "plain store, file (Cairn FileStore; nbdkit file; qemu-nbd raw; nbd-server)",
    "linear2": "linear over linear over a file (nbdkit: 2x offset filter; qemu-nbd: raw in raw with offsets)",
    "snapshot": "snapshot, persistent COW, 64 KiB chunks (nbdkit: cow filter; qemu-nbd: qcow2 overlay)",
    "snapshot-n": "the same with Cairn's COW transient (N: nothing synced, like nbdkit's temporary overlay)",
    "thin": "thin volume cloned from a base file (external origin), 64 KiB blocks (nbdkit: cow filter; "
            "qemu-nbd: qcow2 overlay)",
    "thin-snap": "thin snapshot of a filled volume: first write breaks sharing (peers: their thin rows again)",
    "striped": "striped over 4 files, 64 KiB chunks (no peer stripes; peers concatenate the same 4 files: "
               "qemu-nbd over a flat-extent VMDK, nbd-server multifile, nbdkit's split plugin)",
    "depth": "depth of linear layers over a memory store (Cairn only)",
    "cold-mem": "cold: a fresh server per run, memory store (nbdkit memory)",
    "cold-file": "cold: a fresh server per run, file store (nbdkit file; qemu-nbd; nbd-server)",
    "tls": "TLS required, X.509 (Cairn MemoryStore; nbdkit memory; qemu-nbd raw file)",
    "tls-plaintext": "Cairn's tls stack without TLS, same run (what TLS costs Cairn)",
}
WORKLOAD_ORDER = ["copy-read", "copy-write", "rr4k-q1", "rr4k-q32", "rw4k-q1", "rw4k-q32", "mix4k-q1",
                  "mix4k-q32", "sr1m-q8", "sw1m-q8", "first4k-q32", "rewrite4k-q32", "cold-copy-read", "cold-rw4k-q32"]
WORKLOAD_TITLE = {
    "copy-read": "nbdcopy to null:", "copy-write": "nbdcopy from a file",
    "rr4k-q1": "4k randread qd1", "rr4k-q32": "4k randread qd32",
    "rw4k-q1": "4k randwrite qd1", "rw4k-q32": "4k randwrite qd32",
    "mix4k-q1": "4k 70/30 qd1", "mix4k-q32": "4k 70/30 qd32",
    "sr1m-q8": "1M seq read qd8", "sw1m-q8": "1M seq write qd8",
    "first4k-q32": "4k first write qd32", "rewrite4k-q32": "4k rewrite qd32",
    "cold-copy-read": "first nbdcopy to null: after start", "cold-rw4k-q32": "first 2 s of 4k randwrite qd32",
}


def order_key(seq, item):
    return (seq.index(item), item) if item in seq else (len(seq), item)


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if v >= 10000:
        return f"{v / 1000:.1f}k"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    head, rows = lines[0], lines[1:]
    return [dict(zip(head, r)) for r in rows]


def load(out):
    runs = read_tsv(os.path.join(out, "results.tsv"))
    values = collections.defaultdict(list)  # (stack, transport, workload, server) -> [value]
    units = {}
    notes = collections.OrderedDict()  # (stack, transport, server) -> why not measured
    for r in runs:
        key3 = (r["stack"], r["transport"], r["server"])
        if r["unit"].startswith("n/a"):
            notes[key3] = r["unit"][len("n/a: "):]
            continue
        if r["unit"] == "failed":
            notes.setdefault(key3, "some runs failed (see run/*.err)")
            continue
        values[(r["stack"], r["transport"], r["workload"], r["server"])].append(float(r["value"]))
        units[r["workload"]] = r["unit"]
    medians = {k: statistics.median(v) for k, v in values.items()}
    return medians, values, units, notes


def peer_table(medians, units):
    """Rows (stack, transport, workload) -> {column: median}, for every stack but depth."""
    rows = collections.OrderedDict()
    keys = sorted({(s, t, w) for (s, t, w, _) in medians if s != "depth"},
                  key=lambda k: (order_key(STACK_ORDER, k[0]), k[1] != "unix", order_key(WORKLOAD_ORDER, k[2])))
    for k in keys:
        cols = {}
        for (s, t, w, server), v in medians.items():
            if (s, t, w) == k:
                cols[COLUMN_OF.get(server, server)] = v
        rows[k] = cols
    return rows


def ratio(cols):
    peers = [v for c, v in cols.items() if c != "cairn"]
    if "cairn" not in cols or not peers:
        return None, None
    best = max(peers)
    return best, (cols["cairn"] / best if best > 0 else None)


def markdown(out, medians, values, units, notes, mode, resources):
    machine = open(os.path.join(out, "machine.txt")).read().strip().splitlines()
    md = []
    label = "QUICK run (small sizes, short runs, 1-2 rounds: proves the harness, numbers are rough)" \
        if mode == "quick" else "FULL run"
    md.append(f"### Results: {label}\n")
    md.append("```")
    md.extend(machine)
    md.append("```\n")
    md.append("Medians over rounds; every value is a throughput (higher is better). "
              "Ratio = Cairn / best peer (> 1: Cairn is faster).\n")
    rows = peer_table(medians, units)
    md.append("| stack | transport | workload | unit | Cairn | nbdkit | qemu-nbd | nbd-server | best peer | Cairn / best |")
    md.append("|---|---|---|---|---|---|---|---|---|---|")
    for (s, t, w), cols in rows.items():
        best, r = ratio(cols)
        md.append(f"| {s} | {t} | {WORKLOAD_TITLE.get(w, w)} | {units.get(w, '')} | "
                  + " | ".join(fmt(cols.get(c)) for c in COLUMNS)
                  + f" | {fmt(best)} | {'-' if r is None else f'{r:.2f}'} |")
    md.append("")
    for s in STACK_ORDER:
        if any(k[0] == s for k in rows) and s in STACK_TITLE:
            md.append(f"- **{s}**: {STACK_TITLE[s]}")
    md.append("")
    # spread: how noisy is each row (max/min over rounds, worst server)
    spread = []
    for (s, t, w, server), vs in values.items():
        if len(vs) > 1 and min(vs) > 0:
            spread.append(max(vs) / min(vs))
    if spread:
        md.append(f"Round-to-round spread (max/min of one server's runs of one row): median "
                  f"{statistics.median(spread):.2f}, worst {max(spread):.2f}.\n")
    depth = {(w, srv): v for (s, t, w, srv), v in medians.items() if s == "depth"}
    if depth:
        levels = sorted({srv for (_, srv) in depth}, key=lambda x: int(x[1:]))
        wls = sorted({w for (w, _) in depth}, key=lambda w: order_key(WORKLOAD_ORDER, w))
        md.append("#### Cost of stack depth (Cairn, linear layers over a memory store)\n")
        md.append("| workload | unit | " + " | ".join(levels) + f" | {levels[-1]} / d0 |")
        md.append("|---|---|" + "---|" * (len(levels) + 1))
        for w in wls:
            d0 = depth.get((w, "d0"))
            last = depth.get((w, levels[-1]))
            rel = f"{last / d0:.2f}" if d0 and last else "-"
            md.append(f"| {WORKLOAD_TITLE.get(w, w)} | {units.get(w, '')} | "
                      + " | ".join(fmt(depth.get((w, l))) for l in levels) + f" | {rel} |")
        md.append("")
    if resources:
        md.append("#### Resources per server process (during the measured runs)\n")
        md.append("| stack | transport | server | peak RSS MiB | CPU s | GiB moved | CPU s / GiB | CPU us / fio request |")
        md.append("|---|---|---|---|---|---|---|---|")
        for r in resources:
            cpg = "-" if r["cpu_per_gib"] is None else f"{r['cpu_per_gib']:.2f}"
            upr = "-" if r["us_per_req"] is None else f"{r['us_per_req']:.1f}"
            md.append(f"| {r['stack']} | {r['transport']} | {r['server']} | {r['rss_mib']:.0f} | {r['cpu_s']:.1f} | "
                      f"{r['gib']:.1f} | {cpg} | {upr} |")
        md.append("")
        md.append("Peak RSS is VmHWM (for nbd-server, the sampled sum over the server and its per-connection "
                  "children, every 0.5 s). CPU is utime+stime of the process and its reaped children, counted "
                  "only while a measured run was going on; GiB moved counts the bytes the clients read and "
                  "wrote in those runs. CPU us per fio request divides the CPU of the fio runs only by their "
                  "request count (4 KiB and 1 MiB requests mixed, as the stack's workloads are). fio and "
                  "nbdcopy share the same cores and are not counted.\n")
    if notes:
        md.append("#### Not measured\n")
        for (s, t, srv), why in notes.items():
            md.append(f"- {s} / {t} / {srv}: {why}")
        md.append("")
    return "\n".join(md) + "\n"


def load_resources(out):
    res = []
    for r in read_tsv(os.path.join(out, "resources.tsv")):
        tck = float(r["clk_tck"]) or 100.0
        cpu = float(r["cpu_ticks"]) / tck
        gib = float(r["bytes"]) / (1 << 30)
        reqs = float(r.get("fio_requests") or 0)
        fio_cpu = float(r.get("fio_cpu_ticks") or 0) / tck
        res.append({"stack": r["stack"], "transport": r["transport"], "server": r["server"],
                    "rss_mib": float(r["peak_rss_kb"]) / 1024, "cpu_s": cpu, "gib": gib,
                    "cpu_per_gib": cpu / gib if gib > 0 else None,
                    "us_per_req": fio_cpu * 1e6 / reqs if reqs > 0 else None})
    res.sort(key=lambda r: (order_key(STACK_ORDER, r["stack"]), r["transport"] != "unix",
                            order_key(COLUMNS, r["server"])))
    return res


# ------------------------------------------------------------------------------------------ charts

def gnuplot(script, cwd):
    subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd, check=True)


def charts(out, chart_dir, medians, units, resources, mode):
    if not shutil.which("gnuplot"):
        print("report.py: gnuplot not found; no charts (apt-get install -y gnuplot-nox)")
        return []
    os.makedirs(chart_dir, exist_ok=True)
    dat = os.path.join(out, "chartdata")
    os.makedirs(dat, exist_ok=True)
    tag = "quick run" if mode == "quick" else "full run"
    made = []
    rows = peer_table(medians, units)
    by_group = collections.OrderedDict()
    for (s, t, w), cols in rows.items():
        by_group.setdefault((s, t), []).append((w, cols))
    for (s, t), items in by_group.items():
        present = [c for c in COLUMNS if any(c in cols for _, cols in items)]
        if not present:
            continue  # no server of the usual columns (e.g. rbd-librbd: rbd bench alone; see remote_report.py)
        path = os.path.join(dat, f"{s}-{t}.dat")
        with open(path, "w") as f:
            f.write("# workload " + " ".join(present) + "\n")
            for w, cols in items:
                best, _ = ratio(cols)
                ref = best or max(cols.values())
                f.write(f'"{WORKLOAD_TITLE.get(w, w)}" '
                        + " ".join(f"{cols[c] / ref:.4f}" if c in cols and ref else "NaN" for c in present) + "\n")
        png = os.path.join(chart_dir, f"{s}-{t}.png")
        plots = ", ".join(f"'{path}' using {i + 2}:xtic(1) title '{c}'" for i, c in enumerate(present))
        gnuplot(f"""
set terminal pngcairo size 1100,480 font 'Sans,10'
set output '{png}'
set title "{STACK_TITLE.get(s, s)} - {t} socket\\nthroughput relative to the best peer (1.0), medians ({tag})"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside top center horizontal
set grid ytics
set yrange [0:*]
set xtics rotate by -25
set xrange [-0.6:{len(items) - 0.4}]
set ylabel 'relative throughput'
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb '#555555'
plot {plots}
""", dat)
        made.append(png)
    depth = {(w, srv): v for (s, t, w, srv), v in medians.items() if s == "depth"}
    if depth:
        levels = sorted({srv for (_, srv) in depth}, key=lambda x: int(x[1:]))
        wls = sorted({w for (w, _) in depth}, key=lambda w: order_key(WORKLOAD_ORDER, w))
        path = os.path.join(dat, "depth.dat")
        with open(path, "w") as f:
            f.write("# depth " + " ".join(wls) + "\n")
            for l in levels:
                f.write(l[1:] + " " + " ".join(
                    f"{depth[(w, l)] / depth[(w, 'd0')]:.4f}" if (w, l) in depth and depth.get((w, 'd0')) else "NaN"
                    for w in wls) + "\n")
        png = os.path.join(chart_dir, "depth.png")
        plots = ", ".join(f"'{path}' using 1:{i + 2} with linespoints lw 2 title '{WORKLOAD_TITLE.get(w, w)}'"
                          for i, w in enumerate(wls))
        gnuplot(f"""
set terminal pngcairo size 800,450 font 'Sans,10'
set output '{png}'
set title "Cairn: throughput vs. depth of linear layers, relative to the plain store (d0 = 1.0; {tag})"
set xlabel 'linear layers over the memory store'
set ylabel 'relative throughput'
set grid
set yrange [0:1.3]
set key bottom left
plot {plots}
""", dat)
        made.append(png)
    if resources:
        path = os.path.join(dat, "resources.dat")
        with open(path, "w") as f:
            f.write("# label rss cpu\n")
            for r in resources:
                cpg = r["cpu_per_gib"] if r["cpu_per_gib"] is not None else float("nan")
                f.write(f'"{r["stack"]}/{r["transport"]}/{r["server"]}" {r["rss_mib"]:.1f} {cpg:.3f}\n')
        png = os.path.join(chart_dir, "resources.png")
        gnuplot(f"""
set terminal pngcairo size 1100,700 font 'Sans,9'
set output '{png}'
set multiplot layout 2,1 title "Peak RSS and CPU seconds per GiB moved, per server process ({tag})"
set style data histograms
set style fill solid 0.85 border -1
set boxwidth 0.8
set grid ytics
set xtics rotate by -35 font ',8'
set xrange [-0.6:{len(resources) - 0.4}]
set yrange [0:*]
set key off
set ylabel 'peak RSS (MiB)'
plot '{path}' using 2:xtic(1) lc rgb '#4472c4'
set ylabel 'CPU s / GiB'
plot '{path}' using 3:xtic(1) lc rgb '#ed7d31'
unset multiplot
""", dat)
        made.append(png)
    return made


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--charts")
    ap.add_argument("--mode", default="quick")
    a = ap.parse_args()
    medians, values, units, notes = load(a.out)
    resources = load_resources(a.out)
    chart_dir = os.path.abspath(a.charts or os.path.join(a.out, "charts"))
    made = charts(a.out, chart_dir, medians, units, resources, a.mode)
    text = markdown(a.out, medians, values, units, notes, a.mode, resources)
    if made:
        text += "Charts: " + ", ".join(os.path.relpath(p, a.out) if p.startswith(a.out) else p for p in made) + "\n"
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
