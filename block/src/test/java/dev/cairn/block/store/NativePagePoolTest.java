package dev.cairn.block.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The pool's reclamation contract, step by step (MemoryStoreTest hammers it with real bios). */
@Timeout(60)
class NativePagePoolTest {
    private final NativePagePool pool = new NativePagePool();

    @Test
    void aRetiredPageIsNotHandedOutWhileABioThatEnteredBeforeIsInFlight() {
        int[] ids = new int[4];
        pool.allocate(4, -1, ids);
        assertThat(ids).containsExactly(0, 1, 2, 3); // a fresh slab is handed out in order
        int holder = pool.enter(); // a bio that looked page 1 up
        retire(ids[1]);
        // many retirements and allocations later (each tries to advance the epoch), page 1 is still not reused
        for (int round = 0; round < 10; round++) {
            int[] more = new int[600];
            pool.allocate(more.length, ids[1], more); // even when asked for by the hint
            assertThat(more).doesNotContain(ids[1]);
            retire(more);
        }
        pool.exit(holder);
        retire(ids[2]); // the next retirement, with nothing in flight, frees both pages at once
        int[] again = new int[1];
        pool.allocate(1, ids[1], again);
        assertThat(again[0]).isEqualTo(ids[1]);
    }

    @Test
    void aBioThatEnteredAfterAnAdvanceHoldsThePagesRetiredWhileItRuns() {
        int[] ids = new int[2];
        pool.allocate(2, -1, ids);
        int holder = pool.enter();
        retire(ids[0]); // advances once (the holder's parity is not the one checked), not twice
        int late = pool.enter(); // enters under the new epoch, then looks up page 1
        retire(ids[1]);
        pool.exit(holder);
        retire(new int[0]);
        int[] all = new int[2 * NativePagePool.SLAB_PAGES];
        pool.allocate(all.length, ids[1], all);
        assertThat(all).doesNotContain(ids[1]);
        pool.exit(late);
    }

    @Test
    void memoryIsBoundedByThePeakAndEmptySlabsAreGivenBack() {
        for (int round = 0; round < 20; round++) {
            int[] ids = new int[5 * NativePagePool.SLAB_PAGES];
            pool.allocate(ids.length, -1, ids);
            assertThat(Arrays.stream(ids).distinct().count()).isEqualTo(ids.length);
            assertThat(pool.reservedBytes()).isLessThanOrEqualTo(6 * NativePagePool.SLAB_BYTES);
            retire(ids);
        }
        assertThat(pool.reservedBytes()).isLessThanOrEqualTo(2 * NativePagePool.SLAB_BYTES);
    }

    @Test
    void pagesOfOneAllocationAreContiguousInAFreshSlabAndFollowTheHint() {
        int[] a = new int[100];
        int[] b = new int[50];
        int[] c = new int[10];
        pool.allocate(a.length, -1, a);
        pool.allocate(b.length, -1, b); // another stream takes the pages after a
        pool.allocate(c.length, a[99] + 1, c); // a's next write: the hint is taken, so it goes elsewhere, in one run
        for (int i = 1; i < c.length; i++) {
            assertThat(c[i]).isEqualTo(c[0] + i);
        }
        retire(b);
        retire(new int[0]);
        int[] d = new int[10];
        pool.allocate(d.length, a[99] + 1, d); // now free again: a's run continues where it left off
        assertThat(d[0]).isEqualTo(a[99] + 1);
    }

    private void retire(int... ids) {
        NativePagePool.IntList list = new NativePagePool.IntList();
        for (int id : ids) {
            list.add(id);
        }
        pool.retire(list);
    }
}
