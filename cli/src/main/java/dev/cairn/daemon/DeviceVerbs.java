package dev.cairn.daemon;

import dev.cairn.block.QueueLimits;
import dev.cairn.daemon.proto.DeviceProto;
import dev.cairn.daemon.proto.DeviceProto.DeviceSummary;
import dev.cairn.dm.DeviceDeps;
import dev.cairn.dm.DeviceInfo;
import dev.cairn.dm.DeviceStatus;
import dev.cairn.dm.DeviceTree;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.StatusLine;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.SuspendAbortedException;
import dev.cairn.dm.SuspendMode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dmsetup-style device verbs: {@code create}, {@code load}/{@code reload}, {@code clear},
 * {@code suspend}, {@code resume}, {@code remove}, {@code table}, {@code status}, {@code info},
 * {@code deps}, {@code ls}, {@code message}, {@code targets}.
 *
 * <p>A verb that changes a device holds that device's name lock, changes the live device first, then
 * commits its record to the state file ({@link DaemonContext#update}); read-only verbs take no lock.
 *
 * <p>Thread safety: stateless; see the locking above.
 */
final class DeviceVerbs implements VerbArea {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceVerbs.class);

    private final DaemonContext ctx;

    DeviceVerbs(DaemonContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void register(VerbRegistry verbs) {
        verbs.on(DeviceProto.CREATE, r -> ctx.withNames(() -> create(r), r.name()));
        verbs.on(DeviceProto.LOAD, r -> ctx.withNames(() -> load(r), r.name()));
        verbs.on(DeviceProto.RELOAD, r -> ctx.withNames(() -> load(r), r.name()));
        verbs.on(DeviceProto.CLEAR, r -> ctx.withNames(() -> clear(r.name()), r.name()));
        verbs.on(DeviceProto.SUSPEND, r -> ctx.withNames(() -> suspend(r), r.name()));
        verbs.on(DeviceProto.RESUME, r -> ctx.withNames(() -> resume(r.name()), r.name()));
        verbs.on(DeviceProto.REMOVE, r -> ctx.withNames(() -> remove(r), r.name()));
        verbs.on(DeviceProto.TABLE, r -> statusOf(r.name(), r.inactive(), StatusType.TABLE));
        verbs.on(DeviceProto.STATUS, r -> statusOf(r.name(), r.inactive(), StatusType.INFO));
        verbs.on(DeviceProto.INFO, r -> info(r.name()));
        verbs.on(DeviceProto.DEPS, r -> deps(r.name()));
        verbs.on(DeviceProto.LS, this::ls);
        verbs.on(DeviceProto.MESSAGE, r -> ctx.withNames(() -> message(r), r.name()));
        verbs.on(DeviceProto.TARGETS, r -> targets());
    }

    // ------------------------------------------------------------------ changes

    private DeviceSummary create(DeviceProto.Create r) {
        String name = r.name();
        Names.check("device name", name);
        checkNotExportName(name, r.noExport());
        try {
            ctx.registry().create(name, r.table());
        } catch (DmException e) {
            throw DmErrors.of("create", name, e);
        }
        DaemonState.Device rec = ctx.recordOf(name, false, null);
        DaemonState.Export e = r.noExport() ? null : new DaemonState.Export(name, name, false, "cairn device " + name);
        if (e != null) {
            try {
                ctx.addExportLive(e);
            } catch (DaemonException ex) {
                ctx.removeQuietly(name);
                throw ex;
            }
        }
        ctx.update(s -> e == null ? s.withDevice(rec) : s.withDevice(rec).withExport(e));
        return summary(name);
    }

    private void checkNotExportName(String name, boolean noExport) {
        if (ctx.registry().find(name).isPresent()) {
            throw new DaemonException(ErrorKind.EXISTS, "device: " + name + " (expected: a name not in use; the device exists)",
                    "pick another name, or remove the old device first: cairn remove " + name);
        }
        if (!noExport && ctx.exports().contains(name)) {
            throw new DaemonException(ErrorKind.EXISTS, "export: " + name + " (expected: a name not in use; an export of device "
                    + ctx.exports().record(name).map(DaemonState.Export::device).orElse("?") + " has it)",
                    "create it with --no-export, or rename that export (cairn export rm " + name + "; cairn export add DEVICE --as OTHER)");
        }
    }

    private DeviceSummary load(DeviceProto.Load r) {
        String name = r.name();
        ctx.checkNotManaged(name, "load");
        try {
            ctx.registry().load(name, r.table());
        } catch (DmException e) {
            throw DmErrors.of("load", name, e);
        }
        ctx.update(s -> s.withDevice(ctx.recordOf(name)));
        return summary(name);
    }

    private DeviceSummary clear(String name) {
        try {
            ctx.registry().clear(name);
        } catch (DmException e) {
            throw DmErrors.of("clear", name, e);
        }
        ctx.update(s -> s.withDevice(ctx.recordOf(name)));
        return summary(name);
    }

    private DeviceSummary suspend(DeviceProto.Suspend r) {
        String name = r.name();
        long timeoutSeconds = r.timeoutSeconds();
        if (timeoutSeconds < 0) {
            throw new DaemonException(ErrorKind.USAGE, "timeout: " + timeoutSeconds + " (expected: seconds > 0, or 0 for none)");
        }
        try {
            ctx.suspendDevice(ctx.device(name), r.noflush() ? SuspendMode.NOFLUSH : SuspendMode.FLUSH,
                    timeoutSeconds == 0 ? null : Duration.ofSeconds(timeoutSeconds));
        } catch (SuspendAbortedException e) {
            String why = Cancel.current().reason();
            throw new DaemonException(ErrorKind.FAILED, e.getMessage() + (why == null ? "" : ": " + why),
                    "I/O is held below " + name + " (cairn ls --tree, cairn info shows suspended devices); resume what is "
                            + "suspended under it, then suspend again");
        } catch (DmException e) {
            throw DmErrors.of("suspend", name, e);
        }
        ctx.update(s -> s.withDevice(ctx.recordOf(name)));
        return summary(name);
    }

    private DeviceSummary resume(String name) {
        try {
            ctx.registry().resume(name);
        } catch (DmException e) {
            throw DmErrors.of("resume", name, e);
        }
        ctx.update(s -> s.withDevice(ctx.recordOf(name)));
        return summary(name);
    }

    private DeviceProto.Removed remove(DeviceProto.Remove r) {
        String name = r.name();
        boolean force = r.force();
        MappedDevice md = ctx.device(name);
        ctx.checkNotManaged(name, "remove");
        if (!force) {
            List<String> holders = md.info().holders();
            if (!holders.isEmpty()) {
                throw new DaemonException(ErrorKind.BUSY, "device " + name + " is in use by " + String.join(", ", holders),
                        "remove " + (holders.size() == 1 ? holders.get(0) : "those devices") + " first (cairn ls --tree shows "
                                + "the stack), or force it: cairn remove --force " + name);
            }
        }
        // The daemon's own exports go with the device, but NBD clients connected to them are users, like an
        // open count for dmsetup: without --force the device stays, and nothing is changed.
        List<DaemonState.Export> dropped = ctx.exports().of(name).stream().map(n -> ctx.exports().record(n).orElseThrow()).toList();
        if (!force) {
            List<String> busy = new ArrayList<>();
            for (DaemonState.Export x : dropped) {
                int clients = ctx.exports().clients(x.name());
                if (clients > 0) {
                    busy.add(x.name() + " (" + clients + (clients == 1 ? " client)" : " clients)"));
                }
            }
            if (!busy.isEmpty()) {
                throw new DaemonException(ErrorKind.BUSY, "device " + name + " is open: NBD clients are connected to export "
                        + String.join(", ", busy), "disconnect them first, or force it (their connections are closed): "
                        + "cairn remove --force " + name);
            }
        }
        for (DaemonState.Export x : dropped) {
            ctx.exports().remove(x.name());
        }
        try {
            ctx.registry().remove(name, force);
        } catch (DmException e) {
            for (DaemonState.Export x : dropped) {
                try {
                    ctx.addExportLive(x);
                } catch (DaemonException again) {
                    LOG.warn("could not put export {} back: {}", x.name(), again.getMessage());
                }
            }
            throw DmErrors.of("remove", name, e);
        }
        ctx.update(s -> s.withoutDevice(name));
        ctx.released(); // a device stacked on an origin may have been what held its merge back
        return new DeviceProto.Removed(name, dropped.stream().map(DaemonState.Export::name).toList());
    }

    private DeviceProto.MessageReply message(DeviceProto.Message r) {
        String name = r.name();
        try {
            String reply = ctx.registry().message(name, r.sector(), r.message().toArray(String[]::new));
            // A message may change a target's state that its TABLE status shows: keep the file in step.
            ctx.update(s -> s.withDevice(ctx.recordOf(name)));
            return new DeviceProto.MessageReply(reply);
        } catch (DmException e) {
            throw DmErrors.of("message", name, e);
        }
    }

    // ------------------------------------------------------------------ reads

    private DeviceSummary summary(String name) {
        MappedDevice md = ctx.device(name);
        return new DeviceSummary(name, md.capacitySectors(), md.state().name(), ctx.exports().of(name));
    }

    /** {@code name}, checked to exist, or every device. */
    private List<String> namesArg(String name) {
        if (name != null) {
            ctx.device(name);
            return List.of(name);
        }
        return ctx.registry().names();
    }

    private DeviceProto.StatusReply statusOf(String only, boolean inactive, StatusType type) {
        List<DeviceProto.DeviceLines> out = new ArrayList<>();
        for (String name : namesArg(only)) {
            MappedDevice md = ctx.device(name);
            DeviceStatus s = inactive ? md.inactiveStatus(type) : md.status(type);
            List<DeviceProto.Line> lines = new ArrayList<>();
            for (StatusLine l : s.lines()) {
                lines.add(new DeviceProto.Line(l.startSector(), l.lengthSectors(), l.targetName(), l.params(), l.toString()));
            }
            DaemonState.Device rec = ctx.state().device(name);
            String saved = null;
            if (type == StatusType.TABLE && !inactive && s.lines().isEmpty() && rec != null && !rec.table().isEmpty()) {
                // Not restored (say its image was moved): the table it had is kept, and shown as not live.
                saved = rec.table();
            }
            out.add(new DeviceProto.DeviceLines(name, lines, saved));
        }
        return new DeviceProto.StatusReply(out);
    }

    private DeviceProto.InfoReply info(String only) {
        List<DeviceProto.DeviceInfo> out = new ArrayList<>();
        for (String name : namesArg(only)) {
            MappedDevice md = ctx.device(name);
            DeviceInfo i = md.info();
            DaemonState.Device rec = ctx.state().device(i.name());
            out.add(new DeviceProto.DeviceInfo(i.name(), i.state().name(), i.readOnly(), i.liveTable(), i.inactiveTable(),
                    i.openCount(), List.copyOf(i.holders()), i.eventNumber(), i.capacitySectors(), i.targetCount(), i.heldBios(),
                    rec != null && rec.hidden(), ctx.exports().of(i.name()), i.liveTable() ? limits(md.limits()) : null));
        }
        return new DeviceProto.InfoReply(out);
    }

    /** The live table's stacked queue limits, as Linux shows them under /sys/block/NAME/queue. */
    private static DeviceProto.Limits limits(QueueLimits l) {
        return new DeviceProto.Limits(l.logicalBlockBytes(), l.physicalBlockBytes(), l.optimalIoBytes(), l.maxSectors(),
                l.discardGranularityBytes(), l.maxDiscardSectors(), l.maxWriteZeroesSectors(), l.writeCache(), l.fua());
    }

    private DeviceProto.DepsReply deps(String only) {
        List<DeviceProto.DeviceDeps> out = new ArrayList<>();
        for (String name : namesArg(only)) {
            DeviceDeps d = ctx.device(name).deps();
            out.add(new DeviceProto.DeviceDeps(name, List.copyOf(d.live()), List.copyOf(d.inactive())));
        }
        return new DeviceProto.DepsReply(out);
    }

    private DeviceProto.LsReply ls(DeviceProto.Ls r) {
        List<DeviceProto.LsDevice> devs = new ArrayList<>();
        for (String name : ctx.registry().names()) {
            MappedDevice md = ctx.registry().find(name).orElse(null);
            if (md == null) {
                continue;
            }
            DeviceInfo i = md.info();
            DaemonState.Device rec = ctx.state().device(name);
            devs.add(new DeviceProto.LsDevice(name, i.capacitySectors(), i.state().name(), rec != null && rec.hidden()));
        }
        if (!r.tree()) {
            return new DeviceProto.LsReply(devs, null, null);
        }
        List<DeviceTree> tree = ctx.registry().tree();
        return new DeviceProto.LsReply(devs, tree.stream().map(DeviceVerbs::node).toList(),
                tree.stream().map(DeviceTree::render).reduce("", String::concat));
    }

    private static DeviceProto.TreeNode node(DeviceTree t) {
        return new DeviceProto.TreeNode(t.name(), t.kind().name().toLowerCase(Locale.ROOT),
                t.children().stream().map(DeviceVerbs::node).toList());
    }

    private DeviceProto.TargetsReply targets() {
        List<DeviceProto.TargetType> out = new ArrayList<>();
        for (String t : ctx.registry().targetTypes().names()) {
            out.add(new DeviceProto.TargetType(t, ctx.registry().targetTypes().find(t).orElseThrow().version().toString()));
        }
        return new DeviceProto.TargetsReply(out);
    }
}
