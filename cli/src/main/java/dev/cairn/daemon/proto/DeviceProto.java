package dev.cairn.daemon.proto;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** The dmsetup-style device verbs: their requests, replies and {@link Verb}s. */
public final class DeviceProto {
    private DeviceProto() {}

    public static final Verb<Create, DeviceSummary> CREATE = Verb.of("create", Create.class, DeviceSummary.class);
    public static final Verb<Load, DeviceSummary> LOAD = Verb.of("load", Load.class, DeviceSummary.class);
    /** dmsetup's alias of load; the CLI sends {@code load}. */
    public static final Verb<Load, DeviceSummary> RELOAD = Verb.of("reload", Load.class, DeviceSummary.class);
    public static final Verb<Clear, DeviceSummary> CLEAR = Verb.of("clear", Clear.class, DeviceSummary.class);
    public static final Verb<Suspend, DeviceSummary> SUSPEND = Verb.of("suspend", Suspend.class, DeviceSummary.class);
    public static final Verb<Resume, DeviceSummary> RESUME = Verb.of("resume", Resume.class, DeviceSummary.class);
    public static final Verb<Remove, Removed> REMOVE = Verb.of("remove", Remove.class, Removed.class);
    public static final Verb<Table, StatusReply> TABLE = Verb.of("table", Table.class, StatusReply.class);
    public static final Verb<Status, StatusReply> STATUS = Verb.of("status", Status.class, StatusReply.class);
    public static final Verb<Info, InfoReply> INFO = Verb.of("info", Info.class, InfoReply.class);
    public static final Verb<Deps, DepsReply> DEPS = Verb.of("deps", Deps.class, DepsReply.class);
    public static final Verb<Ls, LsReply> LS = Verb.of("ls", Ls.class, LsReply.class);
    public static final Verb<Message, MessageReply> MESSAGE = Verb.of("message", Message.class, MessageReply.class);
    public static final Verb<Targets, TargetsReply> TARGETS = Verb.of("targets", Targets.class, TargetsReply.class);

    // ------------------------------------------------------------------ requests

    /** {@code create NAME}: a device from {@code table}, exported under its name unless {@code noExport}. */
    public record Create(String name, String table, boolean noExport) implements Request {
        public Create {
            Args.required("name", name);
            Args.required("table", table);
        }
    }

    /** {@code load NAME}: {@code table} into the inactive slot. */
    public record Load(String name, String table) implements Request {
        public Load {
            Args.required("name", name);
            Args.required("table", table);
        }
    }

    public record Clear(String name) implements Request {
        public Clear {
            Args.required("name", name);
        }
    }

    /** @param timeoutSeconds give up after this long waiting for in-flight I/O (0: wait) */
    public record Suspend(String name, boolean noflush, long timeoutSeconds) implements Request {
        public Suspend {
            Args.required("name", name);
        }
    }

    public record Resume(String name) implements Request {
        public Resume {
            Args.required("name", name);
        }
    }

    public record Remove(String name, boolean force) implements Request {
        public Remove {
            Args.required("name", name);
        }
    }

    /** @param name one device, or null for all */
    public record Table(String name, boolean inactive) implements Request {}

    /** @param name one device, or null for all */
    public record Status(String name, boolean inactive) implements Request {}

    /** @param name one device, or null for all */
    public record Info(String name) implements Request {}

    /** @param name one device, or null for all */
    public record Deps(String name) implements Request {}

    /** @param tree add the stacking, as a tree and as text */
    public record Ls(boolean tree) implements Request {}

    /** @param sector a sector inside the target to address (null: -1, the first target) */
    public record Message(String name, Long sector, List<String> message) implements Request {
        public Message {
            Args.required("name", name);
            sector = sector == null ? -1 : sector;
            message = message == null ? List.of() : List.copyOf(message);
        }
    }

    public record Targets() implements Request {}

    // ------------------------------------------------------------------ replies

    /** A device after a verb changed it. */
    public record DeviceSummary(String name, long sectors, String state, List<String> exports) implements Reply {}

    /**
     * @param exportsRemoved the exports that went with the device (null, left out, for a thin pool: it has none)
     * @param filesDeleted   for a thin pool: whether its data and metadata files (made by cairn) were deleted
     */
    public record Removed(String removed, @JsonInclude(JsonInclude.Include.NON_NULL) List<String> exportsRemoved,
            @JsonInclude(JsonInclude.Include.NON_NULL) Boolean filesDeleted) implements Reply {
        public Removed(String removed, List<String> exportsRemoved) {
            this(removed, exportsRemoved, null);
        }
    }

    /** {@code table} and {@code status}: per device its lines. */
    public record StatusReply(List<DeviceLines> devices) implements Reply {}

    /**
     * @param savedTable the table saved for a device that could not be restored (a TABLE request of its
     *                   live table only; shown as not live)
     */
    public record DeviceLines(String name, List<Line> lines, @JsonInclude(JsonInclude.Include.NON_NULL) String savedTable) {}

    /** One status line: {@code text} is the whole line as dmsetup prints it. */
    public record Line(long start, long length, String target, String params, String text) {}

    public record InfoReply(List<DeviceInfo> devices) implements Reply {}

    /** @param limits the live table's stacked queue limits; null (left out) without a live table */
    public record DeviceInfo(String name, String state, boolean readOnly, boolean liveTable, boolean inactiveTable, long openCount,
            List<String> holders, long eventNumber, long sectors, long targets, long heldBios, boolean hidden,
            List<String> exports, @JsonInclude(JsonInclude.Include.NON_NULL) Limits limits) {}

    /** A device's queue limits, as Linux shows them under /sys/block/NAME/queue. */
    public record Limits(long logicalBlockBytes, long physicalBlockBytes, long optimalIoBytes, long maxSectors,
            long discardGranularityBytes, long maxDiscardSectors, long maxWriteZeroesSectors, boolean writeCache, boolean fua) {}

    public record DepsReply(List<DeviceDeps> devices) implements Reply {}

    public record DeviceDeps(String name, List<String> live, List<String> inactive) {}

    /**
     * @param tree     with {@code tree}: each root device and what it stacks on
     * @param treeText with {@code tree}: the same, drawn as {@code ls --tree} prints it
     */
    public record LsReply(List<LsDevice> devices, @JsonInclude(JsonInclude.Include.NON_NULL) List<TreeNode> tree,
            @JsonInclude(JsonInclude.Include.NON_NULL) String treeText) implements Reply {}

    /**
     * A device as {@code ls} lists it; the thin members are there for pools and thin volumes made by cairn
     * (null, left out, otherwise).
     *
     * @param kind        {@code thin-pool} or {@code thin}
     * @param pool        a thin volume's pool
     * @param origin      a thin snapshot's origin volume
     * @param dataPercent Data% as lvs shows it (of the pool's data, or of the volume's size)
     * @param metaPercent a pool's Meta%
     * @param mode        a pool's mode ({@code rw}, {@code ro}, {@code out_of_data_space}...); the block counts and
     *                    transaction id are a pool's, from its status line
     */
    public record LsDevice(String name, long sectors, String state, boolean hidden,
            @JsonInclude(JsonInclude.Include.NON_NULL) String kind,
            @JsonInclude(JsonInclude.Include.NON_NULL) String pool,
            @JsonInclude(JsonInclude.Include.NON_NULL) String origin,
            @JsonInclude(JsonInclude.Include.NON_NULL) Double dataPercent,
            @JsonInclude(JsonInclude.Include.NON_NULL) Double metaPercent,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long transactionId,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long usedMetadataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long totalMetadataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long usedDataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long totalDataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) String mode) {
        public LsDevice(String name, long sectors, String state, boolean hidden) {
            this(name, sectors, state, hidden, null, null, null, null, null, null, null, null, null, null, null);
        }

        /** This device with a pool's columns. */
        public LsDevice withPool(ThinProto.PoolUsage u) {
            return new LsDevice(name, sectors, state, hidden, "thin-pool", null, null, u.dataPercent(), u.metaPercent(),
                    u.transactionId(), u.usedMetadataBlocks(), u.totalMetadataBlocks(), u.usedDataBlocks(), u.totalDataBlocks(),
                    u.mode());
        }

        /** This device with a thin volume's columns. */
        public LsDevice withThin(String thinPool, String thinOrigin, Double volumeDataPercent) {
            return new LsDevice(name, sectors, state, hidden, "thin", thinPool, thinOrigin, volumeDataPercent, null, null, null,
                    null, null, null, null);
        }
    }

    /** @param kind {@code device}, or the kind of reference ({@code file}, {@code mem}, ...) */
    public record TreeNode(String name, String kind, List<TreeNode> children) {}

    public record MessageReply(String reply) implements Reply {}

    public record TargetsReply(List<TargetType> targets) implements Reply {}

    public record TargetType(String name, String version) {}
}
