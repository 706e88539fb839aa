package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.store.MemoryStore;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Timeout;

/**
 * The 2012 allocation deadlock (Kent Overstreet, "block: Avoid deadlocks with bio allocation by
 * stacking drivers"): a driver takes two bios from a tiny set in one {@code submitBio}. The first is
 * submitted, so it is only parked on this thread's list; the second allocation finds the set empty.
 * Without a rescuer the thread would wait forever for a bio that can only come back once the parked
 * one runs. An empty set punts its own parked bios to its rescuer first, under every policy.
 */
class AllocationRescueTest {

    /** Splits every bio into two halves, each a clone from a set of one bio. */
    private static final class TwoClonesDevice extends StackedTestDevice {
        final BioSet tiny;

        TwoClonesDevice(Submitter submitter, BlockDevice lower) {
            super("two-clones", submitter, lower);
            this.tiny = submitter.newBioSet("tiny", 1);
        }

        @Override
        public void submitBio(Bio bio) {
            int half = bio.sectors() / 2;
            Bio first = bio.clone(tiny).trim(0, half);
            first.chain(bio);
            first.setDevice(lower);
            submitter.submit(first);
            Bio second = bio.clone(tiny).trim(half, bio.sectors() - half); // the set is empty here
            second.chain(bio);
            second.setDevice(lower);
            submitter.submit(second);
            bio.complete();
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    @Timeout(20)
    void secondAllocationFromAnEmptySetCompletesUnderEveryPolicy(SubmitPolicy policy) {
        try (Submitter submitter = Submitter.create(policy)) {
            MemoryStore store = new MemoryStore("lower", 1 << 20);
            TwoClonesDevice device = new TwoClonesDevice(submitter, store);
            MemorySegment data = MemorySegment.ofArray(new byte[8192]);
            for (int i = 0; i < 8192; i++) {
                data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            }
            for (int round = 0; round < 50; round++) {
                Bio write = Bio.alloc().setDevice(device).setOp(BioOp.WRITE).setSector(16L * round).setData(data);
                assertThat(IoCompletion.submitAndWait(submitter, write)).isEqualTo(BioStatus.OK);
            }
            MemorySegment back = MemorySegment.ofArray(new byte[8192]);
            Bio read = Bio.alloc().setDevice(store).setOp(BioOp.READ).setSector(16L * 49).setData(back);
            assertThat(IoCompletion.submitAndWait(submitter, read)).isEqualTo(BioStatus.OK);
            assertThat(back.mismatch(data)).isEqualTo(-1L);
            assertThat(device.tiny.rescuedCount()).as("the parked first clone went through the rescuer").isEqualTo(50);
            assertThat(device.tiny.available()).isEqualTo(1);
        }
    }
}
