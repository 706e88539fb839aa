package dev.cairn.daemon;

import dev.cairn.block.BioOp;
import dev.cairn.daemon.proto.DaemonProto;
import dev.cairn.dm.IoStats;
import dev.cairn.dm.MappedDevice;
import dev.cairn.metrics.StatsReport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The daemon-wide verbs: {@code ping}, {@code version}, {@code stats}, {@code tls-reload} (see {@link TlsReload}) and
 * {@code wait} (dmsetup's: returns once a device's event number passes a given one).
 *
 * <p>Thread safety: stateless; {@code wait} sleeps on {@link Events} and holds no lock while it waits.
 */
final class DaemonVerbs implements VerbArea {
    private final DaemonContext ctx;

    DaemonVerbs(DaemonContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void register(VerbRegistry verbs) {
        verbs.on(DaemonProto.PING, r -> new DaemonProto.PingReply(ProcessHandle.current().pid()));
        verbs.on(DaemonProto.VERSION, r -> version());
        verbs.on(DaemonProto.STATS, this::stats);
        verbs.on(DaemonProto.WAIT, this::waitForEvent);
        verbs.on(DaemonProto.TLS_RELOAD, r -> TlsReload.reload(ctx.config().nbdTls()));
    }

    private DaemonProto.VersionReply version() {
        Exports x = ctx.exports();
        return new DaemonProto.VersionReply(Version.current(), Protocol.VERSION, DaemonState.VERSION, ProcessHandle.current().pid(),
                ctx.config().stateDir().root().toString(), x.tcpPort() > 0 ? x.tcpUri("") : null,
                ctx.config().nbdUnix() ? x.unixUri("") : null);
    }

    /**
     * Returns once the device's event number is above {@code eventNumber} (default: the current one).
     * Woken by every change of the state (a table going live through the daemon always is one); events
     * a target raises on its own are seen within a second. Gives up when its client goes away, after
     * {@code timeoutSeconds}, or when the device is removed.
     */
    private DaemonProto.WaitReply waitForEvent(DaemonProto.Wait r) {
        String name = r.name();
        MappedDevice md = ctx.device(name);
        long since = r.eventNumber() == null ? md.eventNumber() : r.eventNumber();
        long timeoutSeconds = r.timeoutSeconds();
        long deadline = timeoutSeconds > 0 ? System.nanoTime() + Duration.ofSeconds(timeoutSeconds).toNanos() : Long.MAX_VALUE;
        Cancel cancel = Cancel.current();
        try (Cancel.Registration reg = cancel.onCancel(ctx.events()::signal)) {
            boolean happened = ctx.events().await(() -> md.eventNumber() > since, () -> {
                if (cancel.reason() != null) {
                    throw new DaemonException(ErrorKind.FAILED, "wait " + name + ": cancelled: " + cancel.reason());
                }
                if (md.isRemoved()) {
                    throw new DaemonException(ErrorKind.NOT_FOUND, "wait " + name + ": the device was removed");
                }
            }, deadline);
            if (!happened) {
                throw new DaemonException(ErrorKind.FAILED, "wait " + name + ": no event after " + timeoutSeconds
                        + " s (event number still " + md.eventNumber() + ")");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DaemonException(ErrorKind.FAILED, "wait " + name + ": interrupted");
        }
        return new DaemonProto.WaitReply(name, md.eventNumber());
    }

    private DaemonProto.StatsReply stats(DaemonProto.Stats r) {
        if (r.name() != null) {
            ctx.device(r.name());
        }
        return reply(StatsReport.collect(ctx.metricsSources(), r.name()));
    }

    /** The report as it travels: the same numbers, keyed as {@code cairn stats --json} shows them. */
    static DaemonProto.StatsReply reply(StatsReport report) {
        List<DaemonProto.DeviceStats> devices = new ArrayList<>();
        for (StatsReport.Device d : report.devices()) {
            devices.add(new DaemonProto.DeviceStats(d.name(), d.io().inFlight(), op(d.io(), BioOp.READ), op(d.io(), BioOp.WRITE),
                    op(d.io(), BioOp.FLUSH), op(d.io(), BioOp.DISCARD), op(d.io(), BioOp.WRITE_ZEROES),
                    d.snapshot().map(s -> new DaemonProto.SnapshotUsage(s.state().name(), s.allocatedSectors(), s.totalSectors(),
                            s.metadataSectors())).orElse(null)));
        }
        List<DaemonProto.ExportStats> exports = report.exports().stream()
                .map(e -> new DaemonProto.ExportStats(e.name(), e.device(), e.connections())).toList();
        List<DaemonProto.BioSetStats> sets = report.bioSets().stream()
                .map(s -> new DaemonProto.BioSetStats(s.name(), s.capacity(), s.available(), s.punted(), s.rescued())).toList();
        return new DaemonProto.StatsReply(List.copyOf(IoStats.LATENCY_BOUNDS_NANOS), devices, exports, sets, report.watchdogReports());
    }

    private static DaemonProto.OpStats op(IoStats.Snapshot io, BioOp op) {
        IoStats.OpStats s = io.of(op);
        List<Long> counts = new ArrayList<>();
        for (long c : s.bucketCounts()) {
            counts.add(c);
        }
        return new DaemonProto.OpStats(s.requests(), s.bytes(), s.errors(), s.latencyNanos(), counts);
    }
}
