package dev.cairn.daemon.proto;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/** {@code snapshot create|ls|merge|rm}: their requests, replies and {@link Verb}s. */
public final class SnapshotProto {
    private SnapshotProto() {}

    public static final long DEFAULT_CHUNK_SECTORS = 8;

    public static final Verb<Create, Snapshot> CREATE = Verb.of("snapshot-create", Create.class, Snapshot.class);
    public static final Verb<Ls, SnapshotList> LIST = Verb.of("snapshot-ls", Ls.class, SnapshotList.class);
    public static final Verb<Merge, Snapshot> MERGE = Verb.of("snapshot-merge", Merge.class, Snapshot.class);
    public static final Verb<Rm, Removed> REMOVE = Verb.of("snapshot-rm", Rm.class, Removed.class);

    /**
     * @param cow            the COW image (null: a sparse one in the state directory, made and deleted by cairn)
     * @param sizeBytes      the COW's size when cairn creates it (null: big enough never to fill up)
     * @param chunkSectors   the copy-on-write unit (null: {@value #DEFAULT_CHUNK_SECTORS})
     * @param transientStore keep the exceptions in memory only ({@code N}); {@code transient} on the wire
     */
    public record Create(String origin, String name, String cow, Long sizeBytes, Long chunkSectors,
            @JsonProperty("transient") boolean transientStore, boolean noExport) implements Request {
        public Create {
            Args.required("origin", origin);
            Args.required("name", name);
            chunkSectors = chunkSectors == null ? DEFAULT_CHUNK_SECTORS : chunkSectors;
        }
    }

    /**
     * @param name   one snapshot, or null for all
     * @param strict with a name: a snapshot that does not exist is a {@code not-found} error, not an empty list
     */
    public record Ls(String name, boolean strict) implements Request {}

    /** @param defer if open, start once nothing has them open; {@code force}: merge anyway */
    public record Merge(String name, boolean defer, boolean force) implements Request {
        public Merge {
            Args.required("name", name);
        }
    }

    public record Rm(String name, boolean force) implements Request {
        public Rm {
            Args.required("name", name);
        }
    }

    public record SnapshotList(List<Snapshot> snapshots) implements Reply {}

    /**
     * A snapshot as {@code snapshot ls} shows it. The usage members are there while its status is
     * active, the merge members while it merges, {@code openBy} while its merge is deferred.
     *
     * @param status      the INFO status line of the snapshot (of the origin while merging)
     * @param fillPercent the COW in use, one decimal
     * @param state       {@code active}, {@code merging}, {@code merge-deferred}, or the status in lower case
     * @param openBy      what holds a deferred merge back
     * @param thin        true for a thin snapshot (a volume of a pool; no COW); null (left out) otherwise
     * @param pool        a thin snapshot's pool
     * @param deviceId    a thin snapshot's device id in its pool
     * @param merged      true in the reply of a thin merge (done at once: the volumes are swapped)
     */
    public record Snapshot(String name, String origin, String cow, boolean persistent, long chunkSectors, boolean merging,
            boolean mergeDeferred, String status,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long allocatedSectors,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long totalSectors,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long metadataSectors,
            @JsonInclude(JsonInclude.Include.NON_NULL) Double fillPercent,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long mergeLeftSectors,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long mergeTotalSectors,
            String state,
            @JsonInclude(JsonInclude.Include.NON_NULL) List<String> openBy,
            @JsonInclude(JsonInclude.Include.NON_NULL) Boolean thin,
            @JsonInclude(JsonInclude.Include.NON_NULL) String pool,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long deviceId,
            @JsonInclude(JsonInclude.Include.NON_NULL) Boolean merged) implements Reply {
        /** A dm-snapshot (not thin). */
        public Snapshot(String name, String origin, String cow, boolean persistent, long chunkSectors, boolean merging,
                boolean mergeDeferred, String status, Long allocatedSectors, Long totalSectors, Long metadataSectors,
                Double fillPercent, Long mergeLeftSectors, Long mergeTotalSectors, String state, List<String> openBy) {
            this(name, origin, cow, persistent, chunkSectors, merging, mergeDeferred, status, allocatedSectors, totalSectors,
                    metadataSectors, fillPercent, mergeLeftSectors, mergeTotalSectors, state, openBy, null, null, null, null);
        }
    }

    public record Removed(String removed, boolean cowDeleted) implements Reply {}
}
