package dev.cairn.metrics;

import dev.cairn.block.BioOp;
import dev.cairn.block.BioSet;
import dev.cairn.dm.IoStats;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.StatusLine;
import dev.cairn.dm.StatusType;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.snapshot.SnapshotStatus;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The daemon's statistics at one moment: what {@code cairn stats} prints and what {@code --metrics}
 * serves (both are made from one report, so they cannot disagree).
 *
 * @param devices         every mapped device, by name
 * @param exports         every NBD export and its open connections
 * @param bioSets         every open bio set: pool size, bios free, punts to its rescuer, bios it rescued
 * @param watchdogReports reports of stuck threads or bios so far
 */
public record StatsReport(List<Device> devices, List<Export> exports, List<BioSetStats> bioSets, long watchdogReports) {

    /**
     * One device.
     *
     * @param snapshot the usage of a {@code snapshot} target's COW when the live table is one (else empty)
     */
    public record Device(String name, IoStats.Snapshot io, Optional<SnapshotStatus> snapshot) {}

    /** One export: its name, the device it serves and its open (past the handshake) connections. */
    public record Export(String name, String device, int connections) {}

    /** One bio set. */
    public record BioSetStats(String name, int capacity, int available, long punted, long rescued) {}

    /** Collects a report from {@code sources}; with {@code deviceName}, only that device (and no others). */
    public static StatsReport collect(MetricsSources sources, String deviceName) {
        List<Device> devices = new ArrayList<>();
        for (String name : sources.registry().names()) {
            if (deviceName != null && !deviceName.equals(name)) {
                continue;
            }
            Optional<MappedDevice> d = sources.registry().find(name);
            d.ifPresent(dev -> devices.add(new Device(name, dev.ioStats(), snapshotUsage(dev))));
        }
        List<Export> exports = new ArrayList<>();
        for (NbdExport e : sources.nbd().exports()) {
            if (deviceName == null || deviceName.equals(e.device().name())) {
                exports.add(new Export(e.name(), e.device().name(), sources.nbd().connectionCount(e.name())));
            }
        }
        List<BioSetStats> sets = new ArrayList<>();
        if (deviceName == null) {
            for (BioSet s : sources.submitter().openBioSets()) {
                sets.add(new BioSetStats(s.name(), s.capacity(), s.available(), s.puntedCount(), s.rescuedCount()));
            }
        }
        return new StatsReport(List.copyOf(devices), List.copyOf(exports), List.copyOf(sets),
                sources.submitter().watchdogReportCount());
    }

    private static Optional<SnapshotStatus> snapshotUsage(MappedDevice d) {
        List<StatusLine> lines = d.status(StatusType.INFO).lines();
        if (lines.size() != 1 || !lines.getFirst().targetName().equals("snapshot")) {
            return Optional.empty();
        }
        // Typed, from the target itself: no status text is parsed.
        return d.liveTargets(SnapshotStatus.Source.class).stream().findFirst().map(SnapshotStatus.Source::snapshotStatus);
    }

    /** {@code read}, {@code write}, {@code flush}, {@code discard}, {@code writeZeroes}: the keys of {@code cairn stats --json}. */
    public static String opKey(BioOp op) {
        return switch (op) {
            case READ -> "read";
            case WRITE -> "write";
            case FLUSH -> "flush";
            case DISCARD -> "discard";
            case WRITE_ZEROES -> "writeZeroes";
        };
    }
}
