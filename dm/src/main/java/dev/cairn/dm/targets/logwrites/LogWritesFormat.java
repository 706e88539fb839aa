package dev.cairn.dm.targets.logwrites;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The dm-log-writes on-disk format (Linux {@code drivers/md/dm-log-writes.c}, target 1.1.0; xfstests
 * {@code src/log-writes/log-writes.h}); every field little-endian. The unit is {@code sectorsize}, the
 * logical block size of the <em>data</em> device (512 or 4096):
 *
 * <pre>
 *  byte 0            +-------------------------------------------------------------+
 *  (block 0)         | u64 magic 0x6a736677736872 ("rhswfsj\0") | u64 version = 1   |
 *                    | u64 nr_entries | u32 sectorsize | zero padding to sectorsize   |
 *  byte sectorsize   +-------------------------------------------------------------+
 *  entry 0 header    | u64 sector | u64 nr_sectors | u64 flags | u64 data_len         |
 *  (one block)       | MARK only: data_len bytes of text | zero padding              |
 *                    +-------------------------------------------------------------+
 *  entry 0 data      | nr_sectors blocks of written data (none for DISCARD, a FLUSH    |
 *                    | without data, or a MARK)                                       |
 *                    +-------------------------------------------------------------+
 *  entry 1 header    | ...                                                          |
 * </pre>
 *
 * {@code sector} and {@code nr_sectors} count {@code sectorsize} blocks of the data device, not 512-byte
 * sectors. Flags: FLUSH 0x1, FUA 0x2, DISCARD 0x4, MARK 0x8, METADATA 0x10. The super block's
 * {@code nr_entries} is rewritten only when a FUA or MARK entry is logged (and so at teardown, whose
 * {@code dm-log-writes-end} mark ends every complete log); between those it lags.
 *
 * <p>Thread safety: stateless.
 */
public final class LogWritesFormat {
    public static final long MAGIC = 0x6a736677736872L;
    public static final long VERSION = 1;
    public static final int SUPER_BYTES = 28;
    public static final int ENTRY_HEADER_BYTES = 32;

    public static final long FLAG_FLUSH = 0x1;
    public static final long FLAG_FUA = 0x2;
    public static final long FLAG_DISCARD = 0x4;
    public static final long FLAG_MARK = 0x8;
    public static final long FLAG_METADATA = 0x10;
    public static final long KNOWN_FLAGS = FLAG_FLUSH | FLAG_FUA | FLAG_DISCARD | FLAG_MARK | FLAG_METADATA;

    /** The mark the kernel (and Cairn) logs when the target is destroyed. */
    public static final String END_MARK = "dm-log-writes-end";

    static final int OFF_MAGIC = 0;
    static final int OFF_VERSION = 8;
    static final int OFF_NR_ENTRIES = 16;
    static final int OFF_SECTORSIZE = 24;

    static final int OFF_SECTOR = 0;
    static final int OFF_NR_SECTORS = 8;
    static final int OFF_FLAGS = 16;
    static final int OFF_DATA_LEN = 24;

    static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private LogWritesFormat() {}

    /** Longest mark text in bytes for {@code sectorsize} (the kernel's {@code kstrndup(data, sectorsize - 32 - 1)}). */
    public static int maxMarkBytes(int sectorsize) {
        return sectorsize - ENTRY_HEADER_BYTES - 1;
    }

    /** Writes the super block into the first {@link #SUPER_BYTES} of {@code block} (the rest must be zero). */
    static void encodeSuper(MemorySegment block, long nrEntries, int sectorsize) {
        block.set(LE_LONG, OFF_MAGIC, MAGIC);
        block.set(LE_LONG, OFF_VERSION, VERSION);
        block.set(LE_LONG, OFF_NR_ENTRIES, nrEntries);
        block.set(LE_INT, OFF_SECTORSIZE, sectorsize);
    }

    /** Writes an entry header (and a mark's text) at the start of {@code block} (the rest must be zero). */
    static void encodeEntry(MemorySegment block, long sector, long nrSectors, long flags, byte[] markText) {
        block.set(LE_LONG, OFF_SECTOR, sector);
        block.set(LE_LONG, OFF_NR_SECTORS, nrSectors);
        block.set(LE_LONG, OFF_FLAGS, flags);
        block.set(LE_LONG, OFF_DATA_LEN, markText == null ? 0 : markText.length);
        if (markText != null) {
            MemorySegment.copy(markText, 0, block, ValueLayout.JAVA_BYTE, ENTRY_HEADER_BYTES, markText.length);
        }
    }

    /** The text of a mark as the kernel stores it: UTF-8, cut to {@link #maxMarkBytes} bytes. */
    static byte[] markBytes(String text, int sectorsize) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int max = maxMarkBytes(sectorsize);
        if (b.length <= max) {
            return b;
        }
        byte[] cut = new byte[max];
        System.arraycopy(b, 0, cut, 0, max);
        return cut;
    }

    /** {@code FLUSH|FUA|...} for printing; {@code -} when no flag is set. */
    public static String flagNames(long flags) {
        StringBuilder sb = new StringBuilder();
        String[] names = {"FLUSH", "FUA", "DISCARD", "MARK", "METADATA"};
        for (int i = 0; i < names.length; i++) {
            if ((flags & (1L << i)) != 0) {
                sb.append(sb.isEmpty() ? "" : "|").append(names[i]);
            }
        }
        long unknown = flags & ~KNOWN_FLAGS;
        if (unknown != 0) {
            sb.append(sb.isEmpty() ? "" : "|").append("0x").append(Long.toHexString(unknown));
        }
        return sb.isEmpty() ? "-" : sb.toString();
    }
}
