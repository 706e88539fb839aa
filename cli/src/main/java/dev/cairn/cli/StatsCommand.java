package dev.cairn.cli;

import static dev.cairn.cli.Text.list;
import static dev.cairn.cli.Text.map;
import static dev.cairn.cli.Text.maps;
import static dev.cairn.cli.Text.num;
import static dev.cairn.cli.Text.str;

import java.io.PrintWriter;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code cairn stats [DEVICE] [--json]}: the numbers {@code serve --metrics} serves, from the daemon's
 * one statistics report: per device requests, bytes, errors, in-flight and mean latency (the
 * histogram is in {@code --json} and in the metrics), snapshot COW usage, per export connections,
 * per bio set punts and rescues, watchdog reports.
 */
@Command(name = "stats", mixinStandardHelpOptions = true,
        description = {"Show I/O statistics, the same numbers as serve --metrics.",
            "Per device requests, bytes, errors, in-flight requests and latency (like dmstats), snapshot COW",
            "usage, NBD connections per export, bio set punts and rescues, watchdog reports.", "",
            "Examples:", "  cairn stats", "  cairn stats vol0 --json"})
final class StatsCommand extends ClientCommand {
    @Parameters(index = "0", arity = "0..1", paramLabel = "DEVICE", description = "One device (default: all, with exports and bio sets).")
    String name;

    @Mixin JsonOption json;

    @Override
    int run() {
        Map<String, Object> r = map(call("stats", args("name", name)));
        if (json.json) {
            printJson(r);
            return 0;
        }
        PrintWriter out = out();
        String row = "%-16s %10s %12s %10s %12s %8s %8s %7s %9s %11s %12s%n";
        out.printf(row, "DEVICE", "READS", "READ_BYTES", "WRITES", "WRITE_BYTES", "FLUSHES", "DISCARDS", "ERRORS",
                "IN_FLIGHT", "READ_AVG_US", "WRITE_AVG_US");
        for (Map<String, Object> d : maps(r.get("devices"))) {
            Map<String, Object> rd = map(d.get("read"));
            Map<String, Object> wr = map(d.get("write"));
            long errors = 0;
            for (String op : new String[] {"read", "write", "flush", "discard", "writeZeroes"}) {
                errors += num(map(d.get(op)).get("errors"));
            }
            out.printf(row, str(d.get("name")), num(rd.get("requests")), num(rd.get("bytes")), num(wr.get("requests")),
                    num(wr.get("bytes")), num(map(d.get("flush")).get("requests")),
                    num(map(d.get("discard")).get("requests")) + num(map(d.get("writeZeroes")).get("requests")), errors,
                    num(d.get("inFlight")), meanMicros(rd), meanMicros(wr));
        }
        for (Map<String, Object> d : maps(r.get("devices"))) {
            if (d.get("snapshot") != null) {
                Map<String, Object> s = map(d.get("snapshot"));
                long total = num(s.get("totalSectors"));
                out.printf("snapshot %s: %s, COW %d of %d sectors used (%.1f%%), metadata %d sectors%n", d.get("name"),
                        str(s.get("state")).toLowerCase(java.util.Locale.ROOT), num(s.get("allocatedSectors")), total,
                        total == 0 ? 0.0 : 100.0 * num(s.get("allocatedSectors")) / total, num(s.get("metadataSectors")));
            }
        }
        if (!list(r.get("exports")).isEmpty()) {
            out.println();
            out.printf("%-24s %-16s %11s%n", "EXPORT", "DEVICE", "CONNECTIONS");
            for (Map<String, Object> e : maps(r.get("exports"))) {
                out.printf("%-24s %-16s %11d%n", str(e.get("name")), str(e.get("device")), num(e.get("connections")));
            }
        }
        if (name == null) {
            out.println();
            out.printf("%-32s %8s %8s %10s %10s%n", "BIOSET", "CAPACITY", "FREE", "PUNTED", "RESCUED");
            for (Map<String, Object> b : maps(r.get("bioSets"))) {
                out.printf("%-32s %8d %8d %10d %10d%n", str(b.get("name")), num(b.get("capacity")), num(b.get("available")),
                        num(b.get("punted")), num(b.get("rescued")));
            }
            out.println();
            out.printf("watchdog reports: %d%n", num(r.get("watchdogReports")));
        }
        out.flush();
        return 0;
    }

    private static String meanMicros(Map<String, Object> op) {
        long n = num(op.get("requests"));
        return n == 0 ? "-" : Long.toString(num(op.get("latencySumNanos")) / n / 1000);
    }
}
