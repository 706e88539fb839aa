package dev.cairn.cli;

import dev.cairn.daemon.proto.DaemonProto;
import java.io.PrintWriter;
import java.util.List;
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
        DaemonProto.StatsReply r = call(DaemonProto.STATS, new DaemonProto.Stats(name));
        if (json.json) {
            printJson(r);
            return 0;
        }
        PrintWriter out = out();
        String row = "%-16s %10s %12s %10s %12s %8s %8s %7s %9s %11s %12s%n";
        out.printf(row, "DEVICE", "READS", "READ_BYTES", "WRITES", "WRITE_BYTES", "FLUSHES", "DISCARDS", "ERRORS",
                "IN_FLIGHT", "READ_AVG_US", "WRITE_AVG_US");
        for (DaemonProto.DeviceStats d : r.devices()) {
            long errors = 0;
            for (DaemonProto.OpStats op : List.of(d.read(), d.write(), d.flush(), d.discard(), d.writeZeroes())) {
                errors += op.errors();
            }
            out.printf(row, d.name(), d.read().requests(), d.read().bytes(), d.write().requests(), d.write().bytes(),
                    d.flush().requests(), d.discard().requests() + d.writeZeroes().requests(), errors, d.inFlight(),
                    meanMicros(d.read()), meanMicros(d.write()));
        }
        for (DaemonProto.DeviceStats d : r.devices()) {
            DaemonProto.SnapshotUsage s = d.snapshot();
            if (s != null) {
                long total = s.totalSectors();
                out.printf("snapshot %s: %s, COW %d of %d sectors used (%.1f%%), metadata %d sectors%n", d.name(),
                        s.state().toLowerCase(java.util.Locale.ROOT), s.allocatedSectors(), total,
                        total == 0 ? 0.0 : 100.0 * s.allocatedSectors() / total, s.metadataSectors());
            }
        }
        if (!r.exports().isEmpty()) {
            out.println();
            out.printf("%-24s %-16s %11s%n", "EXPORT", "DEVICE", "CONNECTIONS");
            for (DaemonProto.ExportStats e : r.exports()) {
                out.printf("%-24s %-16s %11d%n", e.name(), e.device(), e.connections());
            }
        }
        if (name == null) {
            out.println();
            out.printf("%-32s %8s %8s %10s %10s%n", "BIOSET", "CAPACITY", "FREE", "PUNTED", "RESCUED");
            for (DaemonProto.BioSetStats b : r.bioSets()) {
                out.printf("%-32s %8d %8d %10d %10d%n", b.name(), b.capacity(), b.available(), b.punted(), b.rescued());
            }
            out.println();
            out.printf("watchdog reports: %d%n", r.watchdogReports());
        }
        out.flush();
        return 0;
    }

    private static String meanMicros(DaemonProto.OpStats op) {
        return op.requests() == 0 ? "-" : Long.toString(op.latencySumNanos() / op.requests() / 1000);
    }
}
