package dev.cairn.daemon.proto;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** The daemon-wide verbs: {@code ping}, {@code version}, {@code wait}, {@code stats} and {@code tls-reload}. */
public final class DaemonProto {
    private DaemonProto() {}

    public static final Verb<Ping, PingReply> PING = Verb.of("ping", Ping.class, PingReply.class);
    public static final Verb<Version, VersionReply> VERSION = Verb.of("version", Version.class, VersionReply.class);
    public static final Verb<Wait, WaitReply> WAIT = Verb.of("wait", Wait.class, WaitReply.class);
    public static final Verb<Stats, StatsReply> STATS = Verb.of("stats", Stats.class, StatsReply.class);
    public static final Verb<TlsReload, TlsReloaded> TLS_RELOAD = Verb.of("tls-reload", TlsReload.class, TlsReloaded.class);

    /** {@code tls reload}: reread the NBD server's TLS credentials, as SIGHUP does. */
    public record TlsReload() implements Request {}

    /**
     * The TLS mode, where the credentials come from and the counters after the reload.
     *
     * @param negotiated handshakes completed per negotiated protocol and cipher suite
     */
    public record TlsReloaded(String mode, String source, long reloads, long handshakesCompleted, long handshakesFailed,
            long handshakesTimedOut, java.util.Map<String, Long> negotiated) implements Reply {}

    public record Ping() implements Request {}

    public record PingReply(long pid) implements Reply {}

    public record Version() implements Request {}

    /**
     * @param protocol    the control protocol version the daemon speaks
     * @param stateFormat the version of the state file it writes
     * @param nbdTcp      the NBD TCP URI of the empty export name, or null without TCP
     * @param nbdUnix     the NBD Unix socket URI, or null without one
     */
    public record VersionReply(String version, long protocol, long stateFormat, long pid, String stateDir, String nbdTcp,
            String nbdUnix) implements Reply {}

    /**
     * dmsetup {@code wait}.
     *
     * @param eventNumber    return once the event number is above this (null: the current one)
     * @param timeoutSeconds give up after this long (null or 0: wait)
     */
    public record Wait(String name, Long eventNumber, Long timeoutSeconds) implements Request {
        public Wait {
            Args.required("name", name);
            timeoutSeconds = timeoutSeconds == null ? 0 : timeoutSeconds;
        }
    }

    public record WaitReply(String name, long eventNumber) implements Reply {}

    /** @param name one device, or null for all (with exports and bio sets) */
    public record Stats(String name) implements Request {}

    /** The statistics report ({@code dev.cairn.metrics.StatsReport}) as {@code cairn stats} gets it. */
    public record StatsReply(List<Long> latencyBucketBoundsNanos, List<DeviceStats> devices, List<ExportStats> exports,
            List<BioSetStats> bioSets, long watchdogReports) implements Reply {}

    /** @param snapshot the COW usage of a device whose live table is one {@code snapshot} target */
    public record DeviceStats(String name, long inFlight, OpStats read, OpStats write, OpStats flush, OpStats discard,
            OpStats writeZeroes, @JsonInclude(JsonInclude.Include.NON_NULL) SnapshotUsage snapshot) {}

    /** @param latencyBucketCounts per bound of {@code latencyBucketBoundsNanos}, then one for slower requests */
    public record OpStats(long requests, long bytes, long errors, long latencySumNanos, List<Long> latencyBucketCounts) {}

    public record SnapshotUsage(String state, long allocatedSectors, long totalSectors, long metadataSectors) {}

    public record ExportStats(String name, String device, long connections) {}

    public record BioSetStats(String name, long capacity, long available, long punted, long rescued) {}
}
