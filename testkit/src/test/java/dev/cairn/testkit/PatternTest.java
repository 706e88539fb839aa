package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class PatternTest {

    @Test
    void byteAtAgreesWithFillAtAnyAlignment() {
        for (long start : new long[] {0, 1, 7, 8, 511, 4093}) {
            MemorySegment s = Pattern.segment(start, 100, 5);
            for (int i = 0; i < 100; i++) {
                assertThat(s.get(ValueLayout.JAVA_BYTE, i)).isEqualTo(Pattern.byteAt(start + i, 5));
            }
            assertThat(Pattern.verify(s, start, 5)).isEmpty();
        }
    }

    @Test
    void everyByteDependsOnOffsetAndGeneration() {
        MemorySegment g1 = Pattern.segment(0, 4096, 1);
        MemorySegment g2 = Pattern.segment(0, 4096, 2);
        MemorySegment shifted = Pattern.segment(8, 4096, 1);
        int same12 = 0;
        int sameShift = 0;
        for (int i = 0; i < 4096; i++) {
            same12 += g1.get(ValueLayout.JAVA_BYTE, i) == g2.get(ValueLayout.JAVA_BYTE, i) ? 1 : 0;
            sameShift += g1.get(ValueLayout.JAVA_BYTE, i) == shifted.get(ValueLayout.JAVA_BYTE, i) ? 1 : 0;
        }
        // Random bytes agree 1 time in 256: about 16 of 4096.
        assertThat(same12).isLessThan(64);
        assertThat(sameShift).isLessThan(64);
    }

    @Test
    void mismatchNamesOffsetAndBothGenerations() {
        MemorySegment s = Pattern.segment(1 << 20, 8192, 7);
        MemorySegment.copy(Pattern.segment((1 << 20) + 4608, 512, 6), 0, s, 4608, 512);
        Optional<Pattern.Mismatch> m = Pattern.verify(s, 1 << 20, 7);
        assertThat(m).isPresent();
        assertThat(m.get().offsetBytes()).isBetween((1L << 20) + 4608, (1L << 20) + 4615);
        assertThat(m.get().expectedGeneration()).isEqualTo(7);
        assertThat(m.get().actualGeneration()).isEqualTo(6);
        assertThatThrownBy(() -> Pattern.check(s, 1 << 20, 7))
                .hasMessageContaining("expected generation 7").hasMessageContaining("found generation 6");
    }

    @Test
    void recognisesZerosMisplacedDataAndMixtures() {
        assertThat(Pattern.generationOf(MemorySegment.ofArray(new byte[512]), 0)).isEqualTo(Pattern.ZEROS);
        assertThat(Pattern.generationOf(Pattern.segment(512, 512, 3), 512)).isEqualTo(3);
        // data written for offset 1024 found at 512: the offset does not decode
        assertThat(Pattern.generationOf(Pattern.segment(1024, 512, 3), 512)).isEqualTo(Pattern.UNRECOGNISED);
        MemorySegment mixed = Pattern.segment(0, 1024, 3);
        MemorySegment.copy(Pattern.segment(512, 512, 4), 0, mixed, 512, 512);
        assertThat(Pattern.generationOf(mixed, 0)).isEqualTo(Pattern.MIXED);
        assertThat(Pattern.sectorGenerations(mixed, 0)).containsExactly(3, 4);
        MemorySegment zeroTail = Pattern.segment(0, 1024, 3);
        zeroTail.asSlice(512).fill((byte) 0);
        assertThat(Pattern.sectorGenerations(zeroTail, 0)).containsExactly(3, Pattern.ZEROS);
        MemorySegment random = MemorySegment.ofArray(new byte[512]);
        random.set(ValueLayout.JAVA_BYTE, 3, (byte) 1);
        assertThat(Pattern.generationOf(random, 0)).isEqualTo(Pattern.UNRECOGNISED);
    }

    @Test
    void largeOffsetsAndGenerationsRoundTrip() {
        long offset = (1L << 42) - 4096;
        MemorySegment s = Pattern.segment(offset, 4096, Pattern.MAX_GENERATION);
        assertThat(Pattern.generationOf(s, offset)).isEqualTo(Pattern.MAX_GENERATION);
        assertThatThrownBy(() -> Pattern.segment(0, 8, Pattern.MAX_GENERATION + 1))
                .hasMessageContaining("generation: 16777216 (expected: 0..16777215)");
    }
}
