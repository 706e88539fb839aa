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

    public record Removed(String removed, List<String> exportsRemoved) implements Reply {}

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

    public record DeviceInfo(String name, String state, boolean readOnly, boolean liveTable, boolean inactiveTable, long openCount,
            List<String> holders, long eventNumber, long sectors, long targets, long heldBios, boolean hidden,
            List<String> exports) {}

    public record DepsReply(List<DeviceDeps> devices) implements Reply {}

    public record DeviceDeps(String name, List<String> live, List<String> inactive) {}

    /**
     * @param tree     with {@code tree}: each root device and what it stacks on
     * @param treeText with {@code tree}: the same, drawn as {@code ls --tree} prints it
     */
    public record LsReply(List<LsDevice> devices, @JsonInclude(JsonInclude.Include.NON_NULL) List<TreeNode> tree,
            @JsonInclude(JsonInclude.Include.NON_NULL) String treeText) implements Reply {}

    public record LsDevice(String name, long sectors, String state, boolean hidden) {}

    /** @param kind {@code device}, or the kind of reference ({@code file}, {@code mem}, ...) */
    public record TreeNode(String name, String kind, List<TreeNode> children) {}

    public record MessageReply(String reply) implements Reply {}

    public record TargetsReply(List<TargetType> targets) implements Reply {}

    public record TargetType(String name, String version) {}
}
