package dev.cairn.daemon;

import dev.cairn.daemon.proto.ExportProto;

/**
 * {@code export ls|add|rm}. An export of a device is added under that device's name lock; cairn's
 * hidden snapshot devices (ORIGIN-real) are never exported, since their data changes under the
 * snapshots.
 *
 * <p>Thread safety: stateless; the live exports are {@link Exports}'.
 */
final class ExportVerbs implements VerbArea {
    private final DaemonContext ctx;

    ExportVerbs(DaemonContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void register(VerbRegistry verbs) {
        verbs.on(ExportProto.LIST, r -> list());
        verbs.on(ExportProto.ADD, r -> ctx.withNames(() -> add(r), r.device()));
        verbs.on(ExportProto.REMOVE, this::remove);
    }

    private ExportProto.ExportList list() {
        return new ExportProto.ExportList(ctx.exports().list());
    }

    private ExportProto.ExportList add(ExportProto.Add r) {
        String device = r.device();
        String name = r.as() == null ? device : r.as();
        Names.check("export name", name);
        DaemonState state = ctx.state();
        DaemonState.Device rec = state.device(device);
        if (rec != null && rec.hidden()) {
            String origin = state.snapshots().stream().filter(s -> s.real().equals(device)).map(DaemonState.Snapshot::origin)
                    .findFirst().orElse(null);
            throw new DaemonException(ErrorKind.USAGE, "device: " + device + " (expected: a device that is not cairn's hidden "
                    + "snapshot device; its data changes under the snapshots" + (origin == null ? "" : " of " + origin) + ")",
                    origin == null ? "export the origin or a snapshot instead"
                            : "export the origin (cairn export add " + origin + " --as NAME) or a snapshot of it; "
                            + "for a read-only view of the origin's current data use --read-only on the origin");
        }
        if (ctx.exports().contains(name)) {
            throw new DaemonException(ErrorKind.EXISTS, "export: " + name + " (expected: a name not in use)",
                    "pick another with --as NAME, or remove it first: cairn export rm " + name);
        }
        DaemonState.Export e = new DaemonState.Export(name, device, r.readOnly(),
                r.description() == null ? "cairn device " + device : r.description());
        ctx.addExportLive(e);
        ctx.update(s -> s.withExport(e));
        return list();
    }

    private ExportProto.Removed remove(ExportProto.Rm r) {
        String name = r.name();
        if (!ctx.exports().contains(name)) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "export: " + name + " (expected: an existing export)",
                    "cairn export ls lists the exports");
        }
        ctx.exports().remove(name);
        ctx.update(s -> s.withoutExport(name));
        return new ExportProto.Removed(name);
    }
}
