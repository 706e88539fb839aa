package dev.cairn.dm.targets.logwrites;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Reads a write log in the {@link LogWritesFormat} (written by Linux dm-log-writes, qemu's
 * {@code blklogwrites} driver or Cairn's {@code log-writes} target) from a file or block device, entry by
 * entry, with the checks of xfstests' {@code replay-log}: a wrong magic or version, a header block with
 * bytes after its 32-byte header (unless it is a mark) or an all-zero header is an error naming the entry.
 * Only the {@code nr_entries} the super block counts are read (later entries may be incomplete).
 *
 * <p>Thread safety: not thread-safe (one cursor); use one reader per thread.
 */
public final class LogReader implements AutoCloseable {
    private final Path path;
    private final FileChannel channel;
    private final long version;
    private final long nrEntries;
    private final int sectorsize;
    private final long sizeBytes;
    private long nextIndex;
    private long nextOffsetBytes;

    private LogReader(Path path, FileChannel channel) throws IOException {
        this.path = path;
        this.channel = channel;
        this.sizeBytes = channel.size() > 0 ? channel.size() : sizeOfDevice(channel);
        ByteBuffer sb = read(0, LogWritesFormat.SUPER_BYTES, "the super block");
        MemorySegment s = MemorySegment.ofBuffer(sb);
        long magic = s.get(LogWritesFormat.LE_LONG, LogWritesFormat.OFF_MAGIC);
        if (magic != LogWritesFormat.MAGIC) {
            throw new LogFormatException(path + ": magic 0x" + Long.toHexString(magic) + " (expected: 0x"
                    + Long.toHexString(LogWritesFormat.MAGIC) + ", \"rhswfsj\"; not a dm-log-writes log)");
        }
        this.version = s.get(LogWritesFormat.LE_LONG, LogWritesFormat.OFF_VERSION);
        if (version != LogWritesFormat.VERSION) {
            throw new LogFormatException(path + ": version " + version + " (expected: " + LogWritesFormat.VERSION + ")");
        }
        this.nrEntries = s.get(LogWritesFormat.LE_LONG, LogWritesFormat.OFF_NR_ENTRIES);
        this.sectorsize = s.get(LogWritesFormat.LE_INT, LogWritesFormat.OFF_SECTORSIZE);
        if (sectorsize < 512 || sectorsize > 65536 || Integer.bitCount(sectorsize) != 1) {
            throw new LogFormatException(path + ": sectorsize " + Integer.toUnsignedString(sectorsize)
                    + " (expected: a power of two from 512 to 65536)");
        }
        if (nrEntries < 0) {
            throw new LogFormatException(path + ": nr_entries " + Long.toUnsignedString(nrEntries) + " (expected: < 2^63)");
        }
        this.nextOffsetBytes = sectorsize;
    }

    /** Opens {@code path} read-only and checks its super block. */
    public static LogReader open(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            return new LogReader(path, ch);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** A block device reports size 0 through {@code size()}; its end is found by seeking. */
    private static long sizeOfDevice(FileChannel ch) throws IOException {
        long lo = 0;
        long hi = 1L << 50;
        ByteBuffer one = ByteBuffer.allocate(1);
        while (lo < hi) {
            long mid = (lo + hi + 1) >>> 1;
            one.clear();
            if (ch.read(one, mid - 1) == 1) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    public Path path() {
        return path;
    }

    public long version() {
        return version;
    }

    /** Entries the super block counts. */
    public long entryCount() {
        return nrEntries;
    }

    /** The log's unit: the data device's logical block size when the log was written. */
    public int sectorsize() {
        return sectorsize;
    }

    /** Goes back to the first entry. */
    public void rewind() {
        nextIndex = 0;
        nextOffsetBytes = sectorsize;
    }

    /** The next entry, or null after the last one the super block counts. */
    public LogEntry next() throws IOException {
        if (nextIndex >= nrEntries) {
            return null;
        }
        long index = nextIndex;
        long at = nextOffsetBytes;
        ByteBuffer hb = read(at, sectorsize, "entry " + index + "'s header");
        MemorySegment h = MemorySegment.ofBuffer(hb);
        long sector = h.get(LogWritesFormat.LE_LONG, LogWritesFormat.OFF_SECTOR);
        long nrSectors = h.get(LogWritesFormat.LE_LONG, LogWritesFormat.OFF_NR_SECTORS);
        long flags = h.get(LogWritesFormat.LE_LONG, LogWritesFormat.OFF_FLAGS);
        long dataLen = h.get(LogWritesFormat.LE_LONG, LogWritesFormat.OFF_DATA_LEN);
        String where = path + ": entry " + index + " at log byte " + at;
        if (flags == 0 && nrSectors == 0) {
            throw new LogFormatException(where + ": malformed entry (an all-zero header)");
        }
        String mark = null;
        if (flags == LogWritesFormat.FLAG_MARK) {
            if (dataLen < 0 || dataLen > sectorsize - LogWritesFormat.ENTRY_HEADER_BYTES) {
                throw new LogFormatException(where + ": mark data_len " + Long.toUnsignedString(dataLen)
                        + " (expected: at most " + (sectorsize - LogWritesFormat.ENTRY_HEADER_BYTES) + ")");
            }
            byte[] text = new byte[(int) dataLen];
            MemorySegment.copy(h, ValueLayout.JAVA_BYTE, LogWritesFormat.ENTRY_HEADER_BYTES, text, 0, text.length);
            mark = new String(text, StandardCharsets.UTF_8);
        } else {
            for (int i = LogWritesFormat.ENTRY_HEADER_BYTES; i < sectorsize; i++) {
                if (h.get(ValueLayout.JAVA_BYTE, i) != 0) {
                    throw new LogFormatException(where + ": malformed entry (byte " + i
                            + " of its header block is not zero and it is not a mark)");
                }
            }
        }
        boolean hasData = (flags & (LogWritesFormat.FLAG_DISCARD | LogWritesFormat.FLAG_MARK)) == 0 && nrSectors > 0;
        long dataBytes = hasData ? nrSectors * sectorsize : 0;
        if (hasData && (nrSectors > (sizeBytes / sectorsize) || at + sectorsize + dataBytes > sizeBytes)) {
            throw new LogFormatException(where + ": " + nrSectors + " blocks of data run past the log's end ("
                    + sizeBytes + " bytes); the log is truncated");
        }
        nextIndex++;
        nextOffsetBytes = at + sectorsize + dataBytes;
        return new LogEntry(index, at, sector, nrSectors, flags, mark, at + sectorsize);
    }

    /** Reads {@code lengthBytes} of {@code entry}'s data, starting {@code fromBytes} into it, into {@code dst}. */
    public void readData(LogEntry entry, long fromBytes, MemorySegment dst, int lengthBytes) throws IOException {
        ByteBuffer bb = dst.asSlice(0, lengthBytes).asByteBuffer();
        long pos = entry.dataOffsetBytes() + fromBytes;
        while (bb.hasRemaining()) {
            int n = channel.read(bb, pos);
            if (n < 0) {
                throw new EOFException(path + ": " + entry + ": data ends at log byte " + pos);
            }
            pos += n;
        }
    }

    private ByteBuffer read(long at, int length, String what) throws IOException {
        ByteBuffer bb = ByteBuffer.allocate(length);
        long pos = at;
        while (bb.hasRemaining()) {
            int n = channel.read(bb, pos);
            if (n < 0) {
                throw new LogFormatException(path + ": " + what + " at byte " + at + " runs past the end of the log ("
                        + sizeBytes + " bytes); the log is truncated");
            }
            pos += n;
        }
        return bb.flip();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
