package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class BioTest {
    private static MemorySegment pattern(int bytes, int seed) {
        MemorySegment s = MemorySegment.ofArray(new byte[bytes]);
        for (int i = 0; i < bytes; i++) {
            s.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + seed));
        }
        return s;
    }

    @Test
    void completionRunsEndIoExactlyOnceAndASecondCompletionIsCaught() {
        AtomicInteger calls = new AtomicInteger();
        Bio bio = Bio.alloc().setOp(BioOp.WRITE).setEndIo(b -> calls.incrementAndGet());
        bio.complete();
        assertThat(calls).hasValue(1);
        assertThatThrownBy(bio::complete).isInstanceOf(AssertionError.class).hasMessageContaining("completed more often");
        assertThat(calls).hasValue(1);
    }

    @Test
    void chainedParentCompletesAfterAllChildrenAndTheFirstErrorWins() {
        List<BioStatus> seen = new ArrayList<>();
        Bio parent = Bio.alloc().setEndIo(b -> seen.add(b.status()));
        Bio a = Bio.alloc().chain(parent);
        Bio b = Bio.alloc().chain(parent);
        Bio c = Bio.alloc().chain(parent);
        parent.complete();
        b.complete(BioStatus.NOSPC);
        a.complete(BioStatus.IOERR);
        assertThat(seen).isEmpty();
        c.complete();
        assertThat(seen).containsExactly(BioStatus.NOSPC);
    }

    @Test
    void splitSharesDataAndChainsTheFrontToTheRest() {
        Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        try (submitter) {
            BioSet set = submitter.newBioSet("t", 4);
            MemorySegment a = pattern(4096, 1);
            MemorySegment b = pattern(4096, 2);
            AtomicInteger done = new AtomicInteger();
            Bio bio = Bio.alloc().setOp(BioOp.WRITE).setSector(100).setData(a, b).setEndIo(x -> done.incrementAndGet());
            Bio front = bio.split(9, set);
            assertThat(front.sector()).isEqualTo(100);
            assertThat(front.sizeBytes()).isEqualTo(9 * 512);
            assertThat(bio.sector()).isEqualTo(109);
            assertThat(bio.sizeBytes()).isEqualTo(8192 - 9 * 512);
            MemorySegment out = MemorySegment.ofArray(new byte[512]);
            bio.copyTo(0, out, 0, 512);
            assertThat(out.mismatch(b.asSlice(9 * 512 - 4096, 512))).isEqualTo(-1L);
            front.copyTo(4096, out, 0, 512);
            assertThat(out.mismatch(b.asSlice(0, 512))).isEqualTo(-1L);
            bio.complete();
            assertThat(done).hasValue(0);
            front.complete();
            assertThat(done).hasValue(1);
            assertThat(set.available()).isEqualTo(4);
        }
    }

    @Test
    void advanceTrimAndCopyWorkAcrossSegments() {
        MemorySegment a = pattern(1024, 3);
        MemorySegment b = pattern(2048, 4);
        Bio bio = Bio.alloc().setOp(BioOp.READ).setSector(0).setData(a, b);
        bio.advance(1024);
        assertThat(bio.sector()).isEqualTo(2);
        MemorySegment out = MemorySegment.ofArray(new byte[2048]);
        bio.copyTo(0, out, 0, 2048);
        assertThat(out.mismatch(b)).isEqualTo(-1L);
        bio.trim(1, 2);
        assertThat(bio.sector()).isEqualTo(3);
        assertThat(bio.sizeBytes()).isEqualTo(1024);
        bio.fill(0, 1024, (byte) 0x5a);
        assertThat(b.get(ValueLayout.JAVA_BYTE, 512)).isEqualTo((byte) 0x5a);
        assertThat(b.get(ValueLayout.JAVA_BYTE, 1535)).isEqualTo((byte) 0x5a);
        assertThat(b.get(ValueLayout.JAVA_BYTE, 1536)).isEqualTo((byte) (1536 * 31 + 4));
        assertThatThrownBy(() -> bio.copyTo(512, out, 0, 1024)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void cloneSharesTheDataWindowButNotTheCompletion() {
        MemorySegment a = pattern(4096, 5);
        AtomicInteger parentDone = new AtomicInteger();
        Bio bio = Bio.alloc().setOp(BioOp.WRITE).setSector(8).setFlags(BioFlags.FUA).setData(a)
                .setEndIo(x -> parentDone.incrementAndGet());
        bio.advance(512);
        Bio clone = bio.clone(null);
        assertThat(clone.sector()).isEqualTo(9);
        assertThat(clone.flags()).isEqualTo(BioFlags.FUA);
        assertThat(clone.endIo()).isNull();
        clone.fill(0, 512, (byte) 1);
        assertThat(a.get(ValueLayout.JAVA_BYTE, 512)).isEqualTo((byte) 1);
        clone.complete();
        assertThat(parentDone).hasValue(0);
    }

    @Test
    void pooledBioReturnsToItsSetAfterEndIoAndALateCompletionIsCaught() {
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK)) {
            BioSet set = submitter.newBioSet("t", 2);
            Bio bio = set.alloc();
            assertThat(set.available()).isEqualTo(1);
            bio.complete();
            assertThat(set.available()).isEqualTo(2);
            assertThatThrownBy(bio::complete).isInstanceOf(AssertionError.class);
        }
    }

    @Test
    void badArgumentsGetPreciseMessages() {
        Bio bio = Bio.alloc();
        assertThatThrownBy(() -> bio.setSector(-1)).hasMessage("sector: -1 (expected: >= 0)");
        assertThatThrownBy(() -> bio.setFlags(1 << 20)).hasMessageContaining("flags: 0x100000 (expected:");
        Bio data = Bio.alloc().setData(MemorySegment.ofArray(new byte[1024]));
        assertThatThrownBy(() -> data.advance(100)).hasMessageContaining("bytes: 100 (expected: a multiple of 512");
        assertThatThrownBy(() -> data.split(2, null)).hasMessageContaining("sectors: 2 (expected: in (0, 2))");
    }
}
