package dev.cairn.daemon.proto;

import java.util.List;

/** {@code export ls|add|rm}: their requests, replies and {@link Verb}s. */
public final class ExportProto {
    private ExportProto() {}

    public static final Verb<List_, ExportList> LIST = Verb.of("export-ls", List_.class, ExportList.class);
    public static final Verb<Add, ExportList> ADD = Verb.of("export-add", Add.class, ExportList.class);
    public static final Verb<Rm, Removed> REMOVE = Verb.of("export-rm", Rm.class, Removed.class);

    /** {@code export ls} (named so as not to hide {@link java.util.List}). */
    public record List_() implements Request {}

    /**
     * @param as          the export name (null: the device's name)
     * @param description shown to clients (null: {@code cairn device DEVICE})
     */
    public record Add(String device, String as, boolean readOnly, String description) implements Request {
        public Add {
            Args.required("device", device);
        }
    }

    public record Rm(String name) implements Request {
        public Rm {
            Args.required("name", name);
        }
    }

    public record ExportList(List<Export> exports) implements Reply {}

    /**
     * @param tcpUri  the RFC 3986 URI on the TCP listener, or null without one
     * @param unixUri the URI on the Unix socket, or null without one
     */
    public record Export(String name, String device, boolean readOnly, String description, long sizeBytes, String tcpUri,
            String unixUri) {}

    public record Removed(String removed) implements Reply {}
}
