package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import org.junit.jupiter.api.Test;

class SnapshotStatusTest {
    /** The origin's size where it does not matter: large enough for every old chunk these tests write. */
    private static final long ANY_ORIGIN_SECTORS = dev.cairn.block.Sectors.MAX_DEVICE_SECTORS;

    @Test
    void parsesEveryFormOfTheInfoLine() {
        assertThat(SnapshotStatus.parse("397896/2097152 1560"))
                .isEqualTo(new SnapshotStatus(SnapshotStatus.State.ACTIVE, 397896, 2097152, 1560));
        assertThat(SnapshotStatus.parse("16/1024 16").isMergeDone()).isTrue();
        assertThat(SnapshotStatus.parse("24/1024 16").isMergeDone()).isFalse();
        assertThat(SnapshotStatus.parse("512/1024 16").usedPercent()).isEqualTo(50.0);
        assertThat(SnapshotStatus.parse("Invalid").state()).isEqualTo(SnapshotStatus.State.INVALID);
        assertThat(SnapshotStatus.parse("Overflow").state()).isEqualTo(SnapshotStatus.State.OVERFLOW);
        assertThat(SnapshotStatus.parse("Merge failed").state()).isEqualTo(SnapshotStatus.State.MERGE_FAILED);
        assertThatThrownBy(() -> SnapshotStatus.parse("1/2")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected: <allocated>/<total> <metadata>");
    }

    @Test
    void aCowOfTheRequiredSizeHoldsACopyOfEveryChunk() throws Exception {
        long originSectors = 2048;
        int chunk = 1; // 32 exceptions per area, so several areas fill up completely
        long cowSectors = CowLayout.requiredCowSectors(originSectors, chunk);
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK)) {
            MemoryStore cow = new MemoryStore("cow", ((cowSectors * 512 + 4095) / 4096) * 4096);
            PersistentExceptionStore store = new PersistentExceptionStore(submitter, cow, chunk, false, 512, ANY_ORIGIN_SECTORS);
            store.readMetadata((o, n) -> { });
            for (long c = 0; c < originSectors; c++) {
                long n = store.prepareException();
                assertThat(n).as("chunk %d fits", c).isPositive();
                store.commitException(c, n, true, ok -> assertThat(ok).isTrue());
            }
            assertThat(store.isValid()).isTrue();
        }
        assertThat(CowLayout.requiredCowSectors(2097152, 16)).isEqualTo((1 + 257 + 131072) * 16L);
    }
}
