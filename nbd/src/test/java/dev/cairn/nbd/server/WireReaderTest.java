package dev.cairn.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class WireReaderTest {
    /** A transport that serves a fixed stream, at most {@code chunkBytes} per read, and counts the reads. */
    private static final class StreamTransport implements NbdTransport {
        final ByteBuffer data;
        final int chunkBytes;
        int reads;

        StreamTransport(byte[] bytes, int chunkBytes) {
            this.data = ByteBuffer.wrap(bytes);
            this.chunkBytes = chunkBytes;
        }

        @Override
        public int read(ByteBuffer dst) {
            reads++;
            if (!data.hasRemaining()) {
                return -1;
            }
            int n = Math.min(Math.min(dst.remaining(), data.remaining()), chunkBytes);
            ByteBuffer slice = data.slice(data.position(), n);
            dst.put(slice);
            data.position(data.position() + n);
            return n;
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void shutdownInput() {}

        @Override
        public String peer() {
            return "test";
        }

        @Override
        public void close() {}
    }

    /** 32 requests of a 28-byte header and a 4 KiB payload, each payload filled with its index. */
    private static byte[] smallWrites() {
        ByteBuffer b = ByteBuffer.allocate(32 * (28 + 4096));
        for (int i = 0; i < 32; i++) {
            b.putInt(i).put(new byte[24]);
            for (int k = 0; k < 4096; k++) {
                b.put((byte) i);
            }
        }
        return b.array();
    }

    @Test
    void smallPayloadsThatAWindowCutAreReadThroughTheWindowWithTheRequestsBehindThem() throws IOException {
        StreamTransport t = new StreamTransport(smallWrites(), Integer.MAX_VALUE);
        WireReader in = new WireReader(t);
        for (int i = 0; i < 32; i++) {
            assertThat(in.ensure(28)).isTrue();
            assertThat(in.getInt()).isEqualTo(i);
            in.window().position(in.window().position() + 24);
            ByteBuffer payload = ByteBuffer.allocate(4096);
            in.readFully(payload);
            assertThat(payload.array()).containsOnly((byte) i);
        }
        // 132 KiB of requests through a 128 KiB window: two reads (one per window), not one more per cut payload.
        assertThat(t.reads).isEqualTo(2);
        assertThat(in.ensure(1)).isFalse();
    }

    @Test
    void aPayloadArrivingInPiecesIsStillReadWhole() throws IOException {
        StreamTransport t = new StreamTransport(smallWrites(), 1000);
        WireReader in = new WireReader(t);
        for (int i = 0; i < 32; i++) {
            in.require(28);
            assertThat(in.getInt()).isEqualTo(i);
            in.window().position(in.window().position() + 24);
            ByteBuffer payload = ByteBuffer.allocate(4096);
            in.readFully(payload);
            assertThat(payload.array()).containsOnly((byte) i);
        }
    }

    @Test
    void aLargePayloadGoesStraightIntoTheCallersBuffer() throws IOException {
        byte[] stream = new byte[28 + (1 << 20)];
        java.util.Arrays.fill(stream, 28, stream.length, (byte) 7);
        StreamTransport t = new StreamTransport(stream, Integer.MAX_VALUE);
        WireReader in = new WireReader(t);
        in.require(28);
        in.window().position(28);
        ByteBuffer payload = ByteBuffer.allocate(1 << 20);
        in.readFully(payload);
        assertThat(payload.array()).containsOnly((byte) 7);
        // one window read, then the rest of the megabyte in one read into the payload itself
        assertThat(t.reads).isEqualTo(2);
    }

    @Test
    void aStreamEndingInsideASmallPayloadIsAnError() throws IOException {
        byte[] stream = new byte[28 + 100];
        WireReader in = new WireReader(new StreamTransport(stream, Integer.MAX_VALUE));
        in.require(28);
        in.window().position(28);
        assertThatThrownBy(() -> in.readFully(ByteBuffer.allocate(4096))).isInstanceOf(EOFException.class)
                .hasMessageContaining("payload bytes missing");
    }
}
