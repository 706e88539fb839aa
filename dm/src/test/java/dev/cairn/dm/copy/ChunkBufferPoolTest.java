package dev.cairn.dm.copy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ChunkBufferPoolTest {
    @Test
    void reusesAtMostCapacityNativeAlignedBuffers() {
        try (ChunkBufferPool pool = new ChunkBufferPool("t", 8192, 2)) {
            ChunkBufferPool.Buffer a = pool.take();
            ChunkBufferPool.Buffer b = pool.take();
            assertThat(a.segment().isNative()).isTrue();
            assertThat(a.segment().byteSize()).isEqualTo(8192);
            assertThat(a.segment().address() % ChunkBufferPool.ALIGN_BYTES).isZero();
            assertThat(a.segment().address()).isNotEqualTo(b.segment().address());
            pool.release(a);
            ChunkBufferPool.Buffer c = pool.take();
            assertThat(c).as("the freed buffer is reused").isSameAs(a);
            pool.release(b);
            pool.release(c);
            assertThat(pool.created()).isEqualTo(2);
            assertThat(pool.outstanding()).isZero();
            assertThat(pool.maxOutstanding()).isEqualTo(2);
            assertThat(pool.extraAllocations()).isZero();
        }
    }

    @Test
    void anEmptyPoolMakesAnExtraBufferInsteadOfWaitingAndFreesItOnRelease() {
        try (ChunkBufferPool pool = new ChunkBufferPool("t", 4096, 1)) {
            ChunkBufferPool.Buffer a = pool.take();
            ChunkBufferPool.Buffer extra = pool.take();
            assertThat(pool.extraAllocations()).isEqualTo(1);
            assertThat(pool.created()).isEqualTo(1);
            pool.release(extra);
            assertThatThrownBy(() -> extra.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0))
                    .as("an extra buffer's memory is freed at once").isInstanceOf(IllegalStateException.class);
            pool.release(a);
            assertThat(pool.take()).as("only the pooled buffer is kept").isSameAs(a);
        }
    }

    @Test
    void aBufferCannotBeReleasedTwice() {
        try (ChunkBufferPool pool = new ChunkBufferPool("t", 4096, 2)) {
            ChunkBufferPool.Buffer a = pool.take();
            pool.release(a);
            assertThatThrownBy(() -> pool.release(a)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("released twice");
            assertThat(pool.outstanding()).isZero();
        }
    }

    @Test
    void closingWaitsForTheLastBufferBeforeFreeingTheArena() {
        ChunkBufferPool pool = new ChunkBufferPool("t", 4096, 4);
        List<ChunkBufferPool.Buffer> out = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            out.add(pool.take());
        }
        pool.close();
        assertThatThrownBy(pool::take).isInstanceOf(IllegalStateException.class);
        pool.release(out.get(0));
        pool.release(out.get(1));
        assertThat(pool.isArenaClosed()).isFalse();
        out.get(2).segment().fill((byte) 1); // still usable by the I/O that holds it
        pool.release(out.get(2));
        assertThat(pool.isArenaClosed()).isTrue();
        pool.close();
    }

    @Test
    void rejectsBadSizes() {
        assertThatThrownBy(() -> new ChunkBufferPool("t", 100, 1)).hasMessageContaining("bufferBytes: 100");
        assertThatThrownBy(() -> new ChunkBufferPool("t", 4096, 0)).hasMessageContaining("capacity: 0");
    }
}
