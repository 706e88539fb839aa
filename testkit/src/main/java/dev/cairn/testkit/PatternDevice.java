package dev.cairn.testkit;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import java.lang.foreign.MemorySegment;

/**
 * A read-only device whose every byte is {@link Pattern} data of one generation (nbdkit's pattern plugin):
 * a lower device for stacks whose reads must be checkable without writing anything first. Costs no
 * memory whatever its size.
 *
 * <p>Thread safety: immutable; completes bios on the submitting thread.
 */
public final class PatternDevice implements BlockDevice {
    private final String name;
    private final long capacitySectors;
    private final int generation;
    private final QueueLimits limits = QueueLimits.defaults().withReadOnly(true).withDiscard(0, 0).withWriteZeroes(0)
            .withCache(false, false);

    public PatternDevice(String name, long capacityBytes, int generation) {
        if (capacityBytes <= 0 || !Sectors.isAligned(capacityBytes)) {
            throw new IllegalArgumentException("capacityBytes: " + capacityBytes + " (expected: a positive multiple of 512)");
        }
        Pattern.word(0, generation); // validates the generation
        this.name = name;
        this.capacitySectors = capacityBytes >>> Sectors.SECTOR_SHIFT;
        this.generation = generation;
    }

    public int generation() {
        return generation;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long capacitySectors() {
        return capacitySectors;
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    @Override
    public void submitBio(Bio bio) {
        switch (bio.op()) {
            case READ -> {
                long base = Sectors.toBytes(bio.sector());
                try {
                    bio.forEachSegment((segment, segmentOffsetBytes, lengthBytes, bioOffsetBytes) ->
                            Pattern.fill(segment.asSlice(segmentOffsetBytes, lengthBytes), base + bioOffsetBytes, generation));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e); // the visitor throws none
                }
                bio.complete();
            }
            case FLUSH -> bio.complete();
            default -> bio.complete(BioStatus.PERM);
        }
    }
}
