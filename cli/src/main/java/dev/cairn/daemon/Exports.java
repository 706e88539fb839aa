package dev.cairn.daemon;

import dev.cairn.daemon.proto.ExportProto;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.OpenHandle;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The daemon's live NBD exports: each is a {@link NbdExport} on the {@link NbdServer} plus an
 * {@link OpenHandle} that counts it as a user of its device (so {@code remove} sees it), and the
 * URIs they are reached at. The records in the state file are the verbs' business; this class
 * holds only what is live.
 *
 * <p>Thread safety: thread-safe (a concurrent map); adding or removing one export is done under the
 * name lock of its device by the verbs that do it.
 */
final class Exports {
    /** A live export: its record, the NBD export and the open handle that counts it as a user of the device. */
    private record Exported(DaemonState.Export record, NbdExport export, OpenHandle handle) {}

    private final NbdServer nbd;
    private final Daemon.Config config;
    private final Map<String, Exported> live = new ConcurrentHashMap<>();

    Exports(NbdServer nbd, Daemon.Config config) {
        this.nbd = nbd;
        this.config = config;
    }

    /** Opens {@code e}'s device and serves it; a bad name or a device that cannot be opened changes nothing. */
    void add(DaemonState.Export e, MappedDevice md) {
        OpenHandle handle;
        try {
            handle = md.open();
        } catch (DmException ex) {
            throw DmErrors.of("export", e.device(), ex);
        }
        NbdExport export;
        try {
            export = NbdExport.of(e.name(), md).readOnly(e.readOnly()).description(e.description());
            nbd.addExport(export);
        } catch (IllegalArgumentException ex) {
            handle.close();
            throw new DaemonException(ErrorKind.USAGE, ex.getMessage());
        }
        live.put(e.name(), new Exported(e, export, handle));
    }

    /** Stops serving {@code name} (its clients are disconnected) and closes its handle; nothing if absent. */
    void remove(String name) {
        Exported x = live.remove(name);
        if (x != null) {
            nbd.removeExport(name);
            x.handle().close();
        }
    }

    boolean contains(String name) {
        return live.containsKey(name);
    }

    /** The record of live export {@code name}. */
    Optional<DaemonState.Export> record(String name) {
        return Optional.ofNullable(live.get(name)).map(Exported::record);
    }

    /** The names of the live exports of {@code device}, sorted. */
    List<String> of(String device) {
        return live.values().stream().filter(x -> x.record().device().equals(device)).map(x -> x.record().name()).sorted().toList();
    }

    /** The names of every live export, sorted. */
    List<String> names() {
        return live.keySet().stream().sorted().toList();
    }

    boolean isEmpty() {
        return live.isEmpty();
    }

    /** NBD clients connected to export {@code name} (past the handshake). */
    int clients(String name) {
        return nbd.connectionCount(name);
    }

    /** Every live export as {@code export ls} shows it, sorted by name. */
    List<ExportProto.Export> list() {
        List<ExportProto.Export> out = new ArrayList<>();
        for (Exported x : live.values().stream().sorted(Comparator.comparing(x -> x.record().name())).toList()) {
            String name = x.record().name();
            out.add(new ExportProto.Export(name, x.record().device(), x.export().readOnly(), x.record().description(),
                    x.export().device().capacitySectors() * 512, nbd.tcpPort() > 0 ? tcpUri(name) : null,
                    config.nbdUnix() ? unixUri(name) : null));
        }
        return out;
    }

    /** The NBD TCP port actually bound, or -1. */
    int tcpPort() {
        return nbd.tcpPort();
    }

    /** The URIs and client commands of the exports, following the TLS mode. */
    NbdUris uris() {
        return new NbdUris(config.listenHost(), nbd.tcpPort(), config.stateDir().nbdSocket(), config.nbdTls());
    }

    String tcpUri(String export) {
        return uris().tcp(export);
    }

    String unixUri(String export) {
        return uris().unix(export);
    }

    /** At stop, after the NBD server closed: releases every export's open handle. */
    void closeAll() {
        for (String name : List.copyOf(live.keySet())) {
            Exported x = live.remove(name);
            if (x != null) {
                x.handle().close();
            }
        }
    }
}
