package dev.cairn.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import org.junit.jupiter.api.Test;

class BufferPoolTest {
    @Test
    void buffersAreAlignedSizedToTheirClassAndShareOneMemory() {
        BufferPool pool = new BufferPool(1 << 20);
        for (int length : new int[] {1, 4096, 4097, 65536, 100_000, BufferPool.MAX_BYTES}) {
            BufferPool.Buffer b = pool.acquire(length);
            long classBytes = Math.max(4096, Integer.highestOneBit(length - 1) << 1);
            assertThat(b.segment.byteSize()).as("segment of %d", length).isEqualTo(classBytes);
            assertThat(b.bytes.capacity()).as("view of %d", length).isEqualTo((int) classBytes);
            assertThat(b.segment.address() % BufferPool.ALIGNMENT_BYTES).as("alignment of %d", length).isZero();
            assertThat(b.bytes.isDirect()).isTrue();
            b.segment.set(ValueLayout.JAVA_BYTE, classBytes - 1, (byte) 42);
            assertThat(b.bytes((int) classBytes).get((int) classBytes - 1)).as("the view sees the segment's memory").isEqualTo((byte) 42);
            assertThat(b.bytes(length).remaining()).isEqualTo(length);
            pool.release(b);
        }
        assertThat(pool.outstanding()).isZero();
        assertThatThrownBy(() -> pool.acquire(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("lengthBytes: 0 (expected: in [1, " + BufferPool.MAX_BYTES + "])");
        assertThatThrownBy(() -> pool.acquire(BufferPool.MAX_BYTES + 1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void releasedBuffersAreReusedUpToTheRetainedLimit() {
        BufferPool pool = new BufferPool(8192);
        BufferPool.Buffer a = pool.acquire(4096);
        BufferPool.Buffer b = pool.acquire(3000);
        BufferPool.Buffer c = pool.acquire(4096);
        assertThat(pool.allocations()).isEqualTo(3);
        assertThat(pool.outstanding()).isEqualTo(3);
        pool.release(a);
        pool.release(b);
        pool.release(c); // beyond 8 KiB retained: dropped
        assertThat(pool.retainedBytes()).isEqualTo(8192);
        assertThat(pool.outstanding()).isZero();
        BufferPool.Buffer again = pool.acquire(100);
        assertThat(again).as("most recently released first").isSameAs(b);
        assertThat(pool.acquire(4096)).isSameAs(a);
        assertThat(pool.acquire(4096)).as("nothing retained any more: a new one").isNotIn(a, b, c);
        assertThat(pool.allocations()).isEqualTo(4);
        BufferPool.Buffer big = pool.acquire(65536);
        assertThat(big.segment.byteSize()).isEqualTo(65536);
        assertThat(pool.retainedBytes()).isZero();
    }

    @Test
    void closeDropsIdleBuffersAndRetainsNothingLaterWhileBuffersOutStayUsable() {
        BufferPool pool = new BufferPool(1 << 20);
        BufferPool.Buffer idle = pool.acquire(4096);
        BufferPool.Buffer out = pool.acquire(65536);
        pool.release(idle);
        assertThat(pool.retainedBytes()).isEqualTo(4096);
        pool.close();
        assertThat(pool.retainedBytes()).isZero();
        // A buffer a connection still held at close (a hung device after the drain timeout) stays valid.
        out.segment.fill((byte) 7);
        assertThat(out.bytes(65536).get(65535)).isEqualTo((byte) 7);
        pool.release(out);
        assertThat(pool.retainedBytes()).as("nothing kept after close").isZero();
        assertThat(pool.outstanding()).isZero();
        // Stragglers can still get a buffer (unpooled); close is idempotent.
        BufferPool.Buffer late = pool.acquire(4096);
        assertThat(late).isNotSameAs(idle);
        pool.release(late);
        pool.close();
        assertThat(pool.retainedBytes()).isZero();
        assertThat(pool.outstanding()).isZero();
    }

    /**
     * The reason the buffers are plain direct buffers: a segment-backed view (any arena) makes every
     * gathering write allocate a scope releaser; these allocate nothing per write.
     */
    @Test
    void gatheringWritesOfPooledBuffersAllocateNothing() throws Exception {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        BufferPool pool = new BufferPool(1 << 20);
        BufferPool.Buffer data = pool.acquire(4096);
        ByteBuffer header = ByteBuffer.allocateDirect(16);
        ByteBuffer[] iov = {header, null};
        Pipe pipe = Pipe.open();
        Thread drain = Thread.ofPlatform().daemon().start(() -> {
            ByteBuffer sink = ByteBuffer.allocateDirect(1 << 16);
            try {
                while (pipe.source().read(sink.clear()) >= 0) {
                    // discard
                }
            } catch (Exception e) {
                // closed at the end of the test
            }
        });
        try {
            long best = Long.MAX_VALUE;
            for (int round = 0; round < 5; round++) {
                int writes = 20_000;
                long before = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < writes; i++) {
                    header.clear();
                    iov[1] = data.bytes(4096);
                    while (header.hasRemaining() || iov[1].hasRemaining()) {
                        pipe.sink().write(iov, 0, 2);
                    }
                }
                best = Math.min(best, (threads.getCurrentThreadAllocatedBytes() - before) / writes);
            }
            // A segment-backed view costs 40 bytes per write here (a Releaser and a LinkedRunnable).
            assertThat(best).as("bytes allocated per gathering write").isLessThan(8);
        } finally {
            pipe.sink().close();
            drain.join(5000);
            pipe.source().close();
        }
    }
}
