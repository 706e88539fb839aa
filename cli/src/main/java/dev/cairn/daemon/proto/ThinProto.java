package dev.cairn.daemon.proto;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * {@code pool create} and {@code thin create}: their requests, replies and {@link Verb}s. Thin volumes are
 * removed with {@code remove}, snapshotted, merged and listed with the {@code snapshot} verbs.
 */
public final class ThinProto {
    private ThinProto() {}

    public static final long DEFAULT_BLOCK_BYTES = 64 << 10;

    public static final Verb<PoolCreate, Pool> POOL_CREATE = Verb.of("pool-create", PoolCreate.class, Pool.class);
    public static final Verb<ThinCreate, Volume> THIN_CREATE = Verb.of("thin-create", ThinCreate.class, Volume.class);

    /**
     * @param sizeBytes         data space, rounded down to whole blocks
     * @param metadataSizeBytes the metadata file's size (null: the kernel's rule of thumb)
     * @param blockSizeBytes    the allocation unit (null: {@value #DEFAULT_BLOCK_BYTES})
     * @param dataFile          the data file (null: one in the state directory)
     * @param metadataFile      the metadata file (null: one in the state directory)
     */
    public record PoolCreate(String name, Long sizeBytes, Long metadataSizeBytes, Long blockSizeBytes, String dataFile,
            String metadataFile) implements Request {
        public PoolCreate {
            Args.required("name", name);
            sizeBytes = sizeBytes == null ? 0 : sizeBytes;
            metadataSizeBytes = metadataSizeBytes == null ? 0 : metadataSizeBytes;
            blockSizeBytes = blockSizeBytes == null ? DEFAULT_BLOCK_BYTES : blockSizeBytes;
        }
    }

    /** @param origin an external, read-only origin device (null: none) */
    public record ThinCreate(String pool, String name, Long sizeBytes, String origin, boolean noExport) implements Request {
        public ThinCreate {
            Args.required("pool", pool);
            Args.required("name", name);
            sizeBytes = sizeBytes == null ? 0 : sizeBytes;
        }
    }

    /** A pool as {@code pool create} answers it. */
    public record Pool(String name, String metadataFile, String dataFile, long blockSectors,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long transactionId,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long usedMetadataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long totalMetadataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long usedDataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long totalDataBlocks,
            Double dataPercent, Double metaPercent, String mode) implements Reply {}

    /**
     * A pool's usage from its status line; the block counts are null (left out) when it has none (say in fail
     * mode), and so are the percentages.
     *
     * @param mode {@code rw}, {@code ro}, {@code out_of_data_space}, or the first word of the status
     */
    public record PoolUsage(@JsonInclude(JsonInclude.Include.NON_NULL) Long transactionId,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long usedMetadataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long totalMetadataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long usedDataBlocks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long totalDataBlocks,
            Double dataPercent, Double metaPercent, String mode) {}

    /** @param externalOrigin the external origin device, or null */
    public record Volume(String name, String pool, long deviceId, long sectors, String externalOrigin, List<String> exports)
            implements Reply {}
}
