package dev.cairn.dm.targets.logwrites;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reader on logs built byte by byte from the kernel's layout, good and bad. */
class LogReaderTest {
    @TempDir Path tmp;

    /** A 512-byte-sector log: super, then the given entries (header fields, data blocks). */
    private static ByteBuffer log(int blocks, long nrEntries) {
        ByteBuffer b = ByteBuffer.allocate(blocks * 512).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, 0x6a736677736872L).putLong(8, 1).putLong(16, nrEntries).putInt(24, 512);
        return b;
    }

    private static void entry(ByteBuffer b, int block, long sector, long nr, long flags, long dataLen) {
        b.putLong(block * 512, sector).putLong(block * 512 + 8, nr).putLong(block * 512 + 16, flags)
                .putLong(block * 512 + 24, dataLen);
    }

    private Path write(ByteBuffer b) throws Exception {
        Path p = Files.createTempFile(tmp, "log", ".img");
        Files.write(p, b.array());
        return p;
    }

    @Test
    void readsWritesMarksAndDiscards() throws Exception {
        ByteBuffer b = log(8, 4);
        entry(b, 1, 10, 2, 0, 0);               // a write of 2 blocks: data in blocks 2 and 3
        b.put(2 * 512, (byte) 0x5a);
        entry(b, 4, 0, 0, 8, 3);                // a mark "abc"
        b.put(4 * 512 + 32, (byte) 'a').put(4 * 512 + 33, (byte) 'b').put(4 * 512 + 34, (byte) 'c');
        entry(b, 5, 100, 50, 4, 0);             // a discard: no data
        entry(b, 6, 0, 0, 3, 0);                // FLUSH|FUA, no data
        try (LogReader r = LogReader.open(write(b))) {
            assertThat(r.sectorsize()).isEqualTo(512);
            LogEntry w = r.next();
            assertThat(w.kind()).isEqualTo("write");
            assertThat(w.dataOffsetBytes()).isEqualTo(1024);
            LogEntry m = r.next();
            assertThat(m.mark()).isEqualTo("abc");
            assertThat(m.headerOffsetBytes()).isEqualTo(4 * 512);
            LogEntry d = r.next();
            assertThat(d.kind()).isEqualTo("discard");
            assertThat(d.hasData()).isFalse();
            LogEntry f = r.next();
            assertThat(f.kind()).isEqualTo("flush");
            assertThat(f.isFua()).isTrue();
            assertThat(r.next()).isNull();
        }
    }

    @Test
    void badInputIsAnErrorNamingWhere() throws Exception {
        ByteBuffer notLog = ByteBuffer.allocate(1024);
        assertThatThrownBy(() -> LogReader.open(write(notLog))).isInstanceOf(LogFormatException.class)
                .hasMessageContaining("not a dm-log-writes log");

        ByteBuffer v2 = log(2, 0).putLong(8, 2);
        assertThatThrownBy(() -> LogReader.open(write(v2))).hasMessageContaining("version 2 (expected: 1)");

        ByteBuffer odd = log(2, 0).putInt(24, 1000);
        assertThatThrownBy(() -> LogReader.open(write(odd))).hasMessageContaining("sectorsize 1000");

        ByteBuffer zero = log(3, 1);
        try (LogReader r = LogReader.open(write(zero))) {
            assertThatThrownBy(r::next).hasMessageContaining("entry 0 at log byte 512: malformed entry (an all-zero header)");
        }

        ByteBuffer junk = log(3, 1);
        entry(junk, 1, 0, 1, 0, 0);
        junk.put(512 + 100, (byte) 1);
        try (LogReader r = LogReader.open(write(junk))) {
            assertThatThrownBy(r::next).hasMessageContaining("byte 100 of its header block is not zero");
        }

        ByteBuffer truncated = log(3, 1);
        entry(truncated, 1, 0, 8, 0, 0);
        try (LogReader r = LogReader.open(write(truncated))) {
            assertThatThrownBy(r::next).hasMessageContaining("the log is truncated");
        }

        ByteBuffer missing = log(2, 3);
        entry(missing, 1, 0, 0, 1, 0);
        try (LogReader r = LogReader.open(write(missing))) {
            assertThat(r.next().isFlush()).isTrue();
            assertThatThrownBy(r::next).hasMessageContaining("entry 1's header at byte 1024 runs past the end");
        }
    }
}
