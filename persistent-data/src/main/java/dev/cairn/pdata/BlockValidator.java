package dev.cairn.pdata;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * Checks a metadata block when it is read and stamps it before it is written (Linux
 * {@code struct dm_block_validator}). Every kind of block uses the same rule: the block's own number
 * at byte 8, and at byte 0 {@code crc32c(~0, bytes[4..4096)) ^ salt} where {@code crc32c} is the
 * kernel's raw register (no final inversion): the standard CRC-32C value XOR {@code 0xFFFFFFFF}.
 *
 * <p>Thread safety: immutable.
 *
 * @param name a short name for error messages
 * @param salt the per-kind salt XORed into the checksum
 */
public record BlockValidator(String name, int salt) {
    /** Btree nodes: {@code BTREE_CSUM_XOR} 121107. */
    public static final BlockValidator BTREE_NODE = new BlockValidator("btree_node", 121107);
    /** Space map bitmaps: {@code BITMAP_CSUM_XOR} 240779. */
    public static final BlockValidator BITMAP = new BlockValidator("sm_bitmap", 240779);
    /** The metadata space map's index block: {@code INDEX_CSUM_XOR} 160478. */
    public static final BlockValidator INDEX = new BlockValidator("sm_index", 160478);

    static final int CSUM_OFFSET = 0;
    static final int BLOCKNR_OFFSET = 8;

    /** The checksum of {@code block} (4096 bytes) as the kernel computes it, salt included. */
    public int checksum(ByteBuffer block) {
        CRC32C crc = new CRC32C();
        crc.update(block.duplicate().position(4).limit(BlockManager.BLOCK_SIZE));
        return (int) crc.getValue() ^ 0xFFFFFFFF ^ salt;
    }

    /** Stamps the location and the checksum ({@code prepare_for_write}). */
    public void prepareForWrite(ByteBuffer block, long location) {
        ByteBuffer b = block.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(BLOCKNR_OFFSET, location);
        b.putInt(CSUM_OFFSET, checksum(b));
    }

    /** Checks the location and the checksum of a block just read ({@code check}). */
    public void check(ByteBuffer block, long location) throws MetadataException {
        ByteBuffer b = block.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long stamped = b.getLong(BLOCKNR_OFFSET);
        if (stamped != location) {
            throw new MetadataException(name + " check failed: blocknr " + stamped + " != wanted " + location);
        }
        int stored = b.getInt(CSUM_OFFSET);
        int computed = checksum(b);
        if (stored != computed) {
            throw new MetadataException(name + " check failed at block " + location + ": csum 0x"
                    + Integer.toHexString(stored) + " != wanted 0x" + Integer.toHexString(computed));
        }
    }
}
