package dev.cairn.dm;

/**
 * A target placed in a table: what dm core needs on the I/O path, read once at load so a target's
 * answers cannot change under in-flight I/O.
 *
 * <p>Thread safety: immutable.
 */
final class TableTarget {
    private final String typeName;
    private final TargetContext context;
    private final Target target;
    final long beginSector;
    final long lengthSectors;
    final long endSector;
    final long maxIoSectors;
    final int numFlushBios;
    final int numDiscardBios;
    final boolean passesSpliceReads;

    TableTarget(String typeName, TargetContext context, Target target) {
        this.typeName = typeName;
        this.context = context;
        this.target = target;
        this.beginSector = context.beginSector();
        this.lengthSectors = context.lengthSectors();
        this.endSector = beginSector + lengthSectors;
        this.maxIoSectors = target.maxIoSectors();
        this.numFlushBios = target.numFlushBios();
        this.numDiscardBios = target.numDiscardBios();
        this.passesSpliceReads = target.passesSpliceReads();
    }

    String typeName() {
        return typeName;
    }

    TargetContext context() {
        return context;
    }

    Target target() {
        return target;
    }

    /**
     * Sectors from {@code sector} that one piece may cover (Linux {@code max_io_len}): up to the end of
     * the target, and up to the next multiple of {@code maxIoSectors} measured from the target's start.
     * Fanned-out discards ignore {@code maxIoSectors}.
     */
    long maxPieceSectors(long sector, boolean fannedOut) {
        long len = endSector - sector;
        if (maxIoSectors > 0 && !fannedOut) {
            long offset = sector - beginSector;
            len = Math.min(len, maxIoSectors - offset % maxIoSectors);
        }
        return len;
    }

    @Override
    public String toString() {
        return typeName + "@" + beginSector;
    }
}
