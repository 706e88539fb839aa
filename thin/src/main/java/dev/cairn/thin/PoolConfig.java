package dev.cairn.thin;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@code thin-pool} table line: {@code <metadata dev> <data dev> <data block sectors> <low water mark>
 * [<#features> skip_block_zeroing ignore_discard no_discard_passdown read_only error_if_no_space]}.
 *
 * @param blockSectors    data block size in sectors: 128 to 2097152, a multiple of 128
 * @param lowWaterBlocks  free data blocks at or below which the pool raises an event
 */
public record PoolConfig(String metadataSpec, String dataSpec, int blockSectors, long lowWaterBlocks,
        boolean skipBlockZeroing, boolean ignoreDiscard, boolean noDiscardPassdown, boolean readOnly,
        boolean errorIfNoSpace) {
    public static final int MIN_BLOCK_SECTORS = 128;
    public static final int MAX_BLOCK_SECTORS = 2097152;

    /** The features as the TABLE status lists them: the requested set, in the kernel's order. */
    List<String> features() {
        List<String> f = new ArrayList<>();
        if (skipBlockZeroing) {
            f.add("skip_block_zeroing");
        }
        if (ignoreDiscard) {
            f.add("ignore_discard");
        }
        if (noDiscardPassdown) {
            f.add("no_discard_passdown");
        }
        if (readOnly) {
            f.add("read_only");
        }
        if (errorIfNoSpace) {
            f.add("error_if_no_space");
        }
        return f;
    }

    /** TABLE status: every item followed by one space, as Linux prints it. */
    String statusTable() {
        StringBuilder sb = new StringBuilder();
        sb.append(metadataSpec).append(' ').append(dataSpec).append(' ').append(blockSectors).append(' ')
                .append(lowWaterBlocks).append(' ');
        List<String> f = features();
        sb.append(f.size()).append(' ');
        for (String s : f) {
            sb.append(s).append(' ');
        }
        return sb.toString();
    }
}
