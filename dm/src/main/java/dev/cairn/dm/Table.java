package dev.cairn.dm;

import dev.cairn.block.BioSet;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.List;
import java.util.Set;

/**
 * A built table: targets in sector order that tile {@code [0, capacitySectors)}, their stacked queue
 * limits and the devices they use. Built all-or-nothing by {@link #build}: if any line fails, every
 * target built so far is closed and every device opened is released.
 *
 * <p>Thread safety: immutable after {@link #build}; {@link #close} is called once, by the control path,
 * when no I/O can reach the table any more.
 */
final class Table {
    private static final System.Logger LOG = System.getLogger(Table.class.getName());

    /**
     * The starting point of stacking for one target (Linux {@code blk_set_stacking_limits}): allows
     * everything, so each device stacked onto it only narrows it. No cache until a device has one.
     */
    static final QueueLimits STACKING = new QueueLimits(512, 512, 0, 0, Long.MAX_VALUE >> 10, Long.MAX_VALUE >> 10,
            false, true, false);

    private final TableTarget[] targets;
    private final long[] begins;
    private final long capacitySectors;
    private final QueueLimits limits;
    private final String text;

    private Table(TableTarget[] targets, QueueLimits limits, String text) {
        this.targets = targets;
        this.begins = new long[targets.length];
        for (int i = 0; i < targets.length; i++) {
            begins[i] = targets[i].beginSector;
        }
        this.capacitySectors = targets[targets.length - 1].endSector;
        this.limits = limits;
        this.text = text;
    }

    static Table build(MappedDevice device, DeviceResolver resolver, TargetTypes types, List<TableLine> lines)
            throws TableException {
        List<TableTarget> built = new ArrayList<>(lines.size());
        try {
            QueueLimits tableLimits = null;
            for (TableLine line : lines) {
                TableTarget tt = buildOne(device, resolver, types, line, built);
                QueueLimits l = targetLimits(tt, line);
                tableLimits = tableLimits == null ? l : tableLimits.stack(l);
            }
            checkAlignment(lines, tableLimits);
            return new Table(built.toArray(new TableTarget[0]), tableLimits, TableParser.format(lines));
        } catch (TableException | RuntimeException | Error e) {
            for (TableTarget tt : built) {
                closeTarget(tt, resolver, device);
            }
            throw e;
        }
    }

    private static TableTarget buildOne(MappedDevice device, DeviceResolver resolver, TargetTypes types, TableLine line,
            List<TableTarget> built) throws TableException {
        int n = line.lineNumber();
        String name = line.targetName();
        TargetType type = types.find(name).orElseThrow(() -> new TableException(n,
                "line " + n + ": target: " + name + " (expected: one of " + String.join(", ", types.names())
                        + missingModule(name) + ")"));
        TargetContext ctx = new TargetContext(device, resolver, name, n, line.startSector(), line.lengthSectors());
        Target target;
        try {
            target = type.create(ctx, new TargetArgs(ctx, n, name, line.args()));
            if (target == null) {
                throw new TableException(n, "line " + n + ": " + name + ": constructor returned no target");
            }
        } catch (TableException | RuntimeException | Error e) {
            releaseContext(ctx, resolver, device);
            if (e instanceof RuntimeException r) {
                throw new TableException(n, "line " + n + ": " + name + ": " + r, r);
            }
            throw e;
        }
        TableTarget tt = new TableTarget(name, ctx, target);
        built.add(tt);
        if (tt.maxIoSectors < 0 || tt.numFlushBios < 0 || tt.numDiscardBios < 0) {
            throw new TableException(n, "line " + n + ": " + name + ": maxIoSectors " + tt.maxIoSectors + ", numFlushBios "
                    + tt.numFlushBios + ", numDiscardBios " + tt.numDiscardBios + " (expected: >= 0)");
        }
        return tt;
    }

    /** Stacks the limits of every device a target uses, checks each range fits, then applies the target's hints. */
    private static QueueLimits targetLimits(TableTarget tt, TableLine line) throws TableException {
        int n = line.lineNumber();
        QueueLimits[] acc = {STACKING};
        TableException[] bad = {null};
        tt.target().iterateDevices((ref, start, length) -> {
            if (bad[0] != null) {
                return;
            }
            long cap = ref.capacitySectors();
            if (start < 0 || length < 0 || start > cap || length > cap - start) {
                bad[0] = new TableException(n, "line " + n + ": " + tt.typeName() + ": " + ref.spec() + ": range [" + start
                        + ", +" + length + ") (expected: inside the device's " + cap + " sectors)");
                return;
            }
            QueueLimits dl = ref.device().limits();
            if ((Sectors.toBytes(start) & (dl.logicalBlockBytes() - 1)) != 0) {
                bad[0] = new TableException(n, "line " + n + ": " + tt.typeName() + ": " + ref.spec() + ": start sector "
                        + start + " (expected: a multiple of the device's " + dl.logicalBlockBytes() + "-byte blocks)");
                return;
            }
            acc[0] = acc[0].stack(dl);
        });
        if (bad[0] != null) {
            throw bad[0];
        }
        QueueLimits hinted = tt.target().ioHints(acc[0]);
        return hinted == null ? acc[0] : hinted;
    }

    private static void checkAlignment(List<TableLine> lines, QueueLimits limits) throws TableException {
        long blockSectors = limits.logicalBlockBytes() >>> Sectors.SECTOR_SHIFT;
        for (TableLine l : lines) {
            if (l.startSector() % blockSectors != 0 || l.lengthSectors() % blockSectors != 0) {
                int n = l.lineNumber();
                throw new TableException(n, "line " + n + ": " + l.targetName() + ": range [" + l.startSector() + ", +"
                        + l.lengthSectors() + ") (expected: multiples of the logical block size, " + blockSectors
                        + " sectors)");
            }
        }
    }

    // ---------------------------------------------------------------- lookup

    int size() {
        return targets.length;
    }

    TableTarget target(int index) {
        return targets[index];
    }

    /** The target containing {@code sector} (which must be below the capacity). */
    TableTarget find(long sector) {
        int i = Arrays.binarySearch(begins, sector);
        return targets[i >= 0 ? i : -i - 2];
    }

    long capacitySectors() {
        return capacitySectors;
    }

    QueueLimits limits() {
        return limits;
    }

    /** The table as loaded, normalised to one space between fields. */
    String text() {
        return text;
    }

    List<StatusLine> status(StatusType type) {
        List<StatusLine> out = new ArrayList<>(targets.length);
        for (TableTarget tt : targets) {
            String params = type == StatusType.INFO ? tt.target().statusInfo() : tt.target().statusTable();
            out.add(new StatusLine(tt.beginSector, tt.lengthSectors, tt.typeName(), params == null ? "" : params));
        }
        return out;
    }

    /** Distinct device references of all targets, in table order, as written. */
    List<DeviceRef> refs() {
        Map<Object, DeviceRef> out = new LinkedHashMap<>();
        for (TableTarget tt : targets) {
            for (DeviceRef r : tt.context().opened()) {
                // Each private leaf reference (mem:) is its own device; every other reference names one device.
                out.putIfAbsent(r.isPrivateLeaf() ? r : r.spec(), r);
            }
        }
        return new ArrayList<>(out.values());
    }

    /** Distinct references as written ({@code mem:} specs may repeat: each one is its own store). */
    List<String> refSpecs() {
        Set<String> out = new LinkedHashSet<>();
        for (DeviceRef r : refs()) {
            out.add(r.spec());
        }
        return new ArrayList<>(out);
    }

    // ---------------------------------------------------------------- life cycle

    void presuspend() {
        for (TableTarget tt : targets) {
            tt.target().presuspend();
        }
    }

    void postsuspend() {
        for (TableTarget tt : targets) {
            tt.target().postsuspend();
        }
    }

    void preresume() throws DmException {
        for (TableTarget tt : targets) {
            try {
                tt.target().preresume();
            } catch (DmException e) {
                throw new DmException(tt.typeName() + ": " + e.getMessage(), e);
            }
        }
    }

    void resume() {
        for (TableTarget tt : targets) {
            tt.target().resume();
        }
    }

    /** Destroys the table: closes every target and its bio sets, releases every device. */
    void close(DeviceResolver resolver, MappedDevice device) {
        for (TableTarget tt : targets) {
            closeTarget(tt, resolver, device);
        }
    }

    private static void closeTarget(TableTarget tt, DeviceResolver resolver, MappedDevice device) {
        try {
            tt.target().close();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "closing " + tt + " of " + device.name() + " failed", e);
        }
        releaseContext(tt.context(), resolver, device);
    }

    private static void releaseContext(TargetContext ctx, DeviceResolver resolver, MappedDevice device) {
        for (BioSet set : ctx.bioSets()) {
            set.close();
        }
        for (DeviceRef ref : ctx.opened()) {
            resolver.release(ref, device);
        }
    }

    /** For a known target whose module is not on the class path: which module has it. */
    private static String missingModule(String target) {
        return switch (target) {
            case "snapshot", "snapshot-origin", "snapshot-merge" ->
                    "; the snapshot targets are in dev.cairn:cairn-snapshot, which is not on the class path";
            default -> "";
        };
    }
}
