package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.store.MemoryStore;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** dm-snap-transient.c: chunks from 0, nothing on disk, commits succeed at once, usage in sectors. */
class TransientExceptionStoreTest {
    @Test
    void allocatesFromChunkZeroUntilTheCowIsFull() {
        MemoryStore cow = new MemoryStore("cow", 8 * 4096); // 64 sectors
        TransientExceptionStore store = new TransientExceptionStore(cow, 16, 512);
        assertThat(store.readMetadata((o, n) -> { })).isEqualTo(ExceptionStore.LoadResult.NEW);
        List<Long> chunks = new ArrayList<>();
        long c;
        while ((c = store.prepareException()) >= 0) {
            chunks.add(c);
        }
        assertThat(chunks).containsExactly(0L, 1L, 2L, 3L);
        assertThat(store.usage()).isEqualTo(new ExceptionStore.Usage(64, 64, 0));
        assertThat(store.tableArgs()).isEqualTo("N 16");
        assertThat(cow.allocatedBytes()).as("nothing written").isZero();
    }

    @Test
    void commitsReportTheCopyResultAtOnceAndMergeIsRefused() {
        TransientExceptionStore store = new TransientExceptionStore(new MemoryStore("cow", 4096), 8, 512);
        List<Boolean> results = new ArrayList<>();
        store.commitException(3, 0, true, results::add);
        store.commitException(4, 1, false, results::add);
        assertThat(results).containsExactly(true, false);
        assertThat(store.supportsMerge()).isFalse();
        assertThatThrownBy(store::prepareMerge).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void aZeroChunkSizeStaysZeroForTheTargetToRefuse() {
        TransientExceptionStore store = new TransientExceptionStore(new MemoryStore("cow", 4096), 0, 512);
        store.readMetadata((o, n) -> { });
        assertThat(store.chunkSectors()).isZero();
    }
}
