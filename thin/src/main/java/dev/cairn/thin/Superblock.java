package dev.cairn.thin;

import dev.cairn.pdata.BlockValidator;
import dev.cairn.pdata.SpaceMapRoot;
import java.nio.ByteBuffer;

/**
 * The thin metadata superblock, block 0 (Linux {@code struct thin_disk_superblock}, packed, 364 bytes
 * used; the rest of the block is zero). All integers little-endian.
 *
 * <pre>
 *   0 csum u32            4 flags u32 (bit 0 NEEDS_CHECK)   8 blocknr u64 (0)
 *  16 uuid[16]           32 magic u64 27022010              40 version u32 (2)
 *  44 time u32           48 trans_id u64                    56 held_root u64
 *  64 data_space_map_root[128]   (the 32-byte disk_sm_root, then zeros)
 * 192 metadata_space_map_root[128]
 * 320 data_mapping_root u64      328 device_details_root u64
 * 336 data_block_size u32 (sectors)  340 metadata_block_size u32 (8)  344 metadata_nr_blocks u64
 * 352 compat_flags u32   356 compat_ro_flags u32   360 incompat_flags u32
 * </pre>
 *
 * <p>Thread safety: immutable.
 */
record Superblock(int flags, byte[] uuid, int version, int time, long transactionId, long heldRoot,
        SpaceMapRoot dataSpaceMapRoot, SpaceMapRoot metadataSpaceMapRoot, long dataMappingRoot,
        long deviceDetailsRoot, int dataBlockSectors, long metadataNrBlocks, int compatFlags, int compatRoFlags,
        int incompatFlags) {
    static final long LOCATION = 0;
    static final long MAGIC = 27022010L;
    static final int VERSION = 2;
    static final int NEEDS_CHECK = 1;
    static final int METADATA_BLOCK_SECTORS = 8;
    /** Salt of the superblock checksum ({@code SUPERBLOCK_CSUM_XOR}). */
    static final BlockValidator VALIDATOR = new BlockValidator("superblock", 160774);

    static Superblock read(ByteBuffer d) {
        byte[] uuid = new byte[16];
        d.get(16, uuid);
        return new Superblock(d.getInt(4), uuid, d.getInt(40), d.getInt(44), d.getLong(48), d.getLong(56),
                SpaceMapRoot.read(d, 64), SpaceMapRoot.read(d, 192), d.getLong(320), d.getLong(328), d.getInt(336),
                d.getLong(344), d.getInt(352), d.getInt(356), d.getInt(360));
    }

    static long magic(ByteBuffer d) {
        return d.getLong(32);
    }

    /** Fills a zeroed block (csum and blocknr are stamped at write). */
    void write(ByteBuffer d) {
        java.util.Arrays.fill(d.array(), (byte) 0);
        d.putInt(4, flags);
        d.put(16, uuid);
        d.putLong(32, MAGIC);
        d.putInt(40, version);
        d.putInt(44, time);
        d.putLong(48, transactionId);
        d.putLong(56, heldRoot);
        if (dataSpaceMapRoot != null) {
            dataSpaceMapRoot.write(d, 64);
        }
        if (metadataSpaceMapRoot != null) {
            metadataSpaceMapRoot.write(d, 192);
        }
        d.putLong(320, dataMappingRoot);
        d.putLong(328, deviceDetailsRoot);
        d.putInt(336, dataBlockSectors);
        d.putInt(340, METADATA_BLOCK_SECTORS);
        d.putLong(344, metadataNrBlocks);
        d.putInt(352, compatFlags);
        d.putInt(356, compatRoFlags);
        d.putInt(360, incompatFlags);
    }
}
