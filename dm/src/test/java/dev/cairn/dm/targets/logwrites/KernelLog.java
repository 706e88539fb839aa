package dev.cairn.dm.targets.logwrites;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A write-log reader written for the tests from the kernel's definitions alone (dm-log-writes.c:
 * {@code struct log_write_super { __le64 magic; __le64 version; __le64 nr_entries; __le32 sectorsize; }},
 * {@code struct log_write_entry { __le64 sector; __le64 nr_sectors; __le64 flags; __le64 data_len; }},
 * {@code WRITE_LOG_MAGIC 0x6a736677736872}, the super at sector 0, entries from {@code sectorsize>>9}),
 * deliberately sharing no code with the production {@link LogReader}.
 */
final class KernelLog {
    static final long MAGIC = 0x6a736677736872L;
    static final long LOG_FLUSH_FLAG = 1L << 0;
    static final long LOG_FUA_FLAG = 1L << 1;
    static final long LOG_DISCARD_FLAG = 1L << 2;
    static final long LOG_MARK_FLAG = 1L << 3;

    record Entry(long sector, long nrSectors, long flags, String mark, byte[] data) {
        String describe() {
            StringBuilder sb = new StringBuilder();
            if ((flags & LOG_MARK_FLAG) != 0) {
                return "MARK " + mark;
            }
            if ((flags & LOG_DISCARD_FLAG) != 0) {
                sb.append("DISCARD ");
            } else if (nrSectors > 0) {
                sb.append("W ");
            }
            if ((flags & LOG_FLUSH_FLAG) != 0) {
                sb.append("FLUSH ");
            }
            if ((flags & LOG_FUA_FLAG) != 0) {
                sb.append("FUA ");
            }
            if (nrSectors > 0) {
                sb.append(sector).append('+').append(nrSectors);
            }
            return sb.toString().trim();
        }
    }

    final long magic;
    final long version;
    final long nrEntries;
    final int sectorsize;
    final List<Entry> entries = new ArrayList<>();

    KernelLog(byte[] log) {
        ByteBuffer b = ByteBuffer.wrap(log).order(ByteOrder.LITTLE_ENDIAN);
        magic = b.getLong(0);
        version = b.getLong(8);
        nrEntries = b.getLong(16);
        sectorsize = b.getInt(24);
        for (int i = 28; i < sectorsize; i++) {
            if (log[i] != 0) {
                throw new AssertionError("super block byte " + i + " is not zero padding");
            }
        }
        int pos = sectorsize;
        for (long i = 0; i < nrEntries; i++) {
            long sector = b.getLong(pos);
            long nr = b.getLong(pos + 8);
            long flags = b.getLong(pos + 16);
            long dataLen = b.getLong(pos + 24);
            String mark = null;
            int padFrom = 32;
            if (flags == LOG_MARK_FLAG) {
                mark = new String(log, pos + 32, (int) dataLen, StandardCharsets.UTF_8);
                padFrom = 32 + (int) dataLen;
            } else if (dataLen != 0) {
                throw new AssertionError("entry " + i + ": data_len " + dataLen + " on a non-mark entry");
            }
            for (int j = padFrom; j < sectorsize; j++) {
                if (log[pos + j] != 0) {
                    throw new AssertionError("entry " + i + ": header byte " + j + " is not zero padding");
                }
            }
            pos += sectorsize;
            byte[] data = null;
            if ((flags & (LOG_DISCARD_FLAG | LOG_MARK_FLAG)) == 0 && nr > 0) {
                data = Arrays.copyOfRange(log, pos, pos + (int) (nr * sectorsize));
                pos += (int) (nr * sectorsize);
            }
            entries.add(new Entry(sector, nr, flags, mark, data));
        }
    }

    List<String> describe() {
        return entries.stream().map(Entry::describe).toList();
    }
}
