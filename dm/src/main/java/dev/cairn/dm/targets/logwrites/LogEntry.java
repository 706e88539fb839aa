package dev.cairn.dm.targets.logwrites;

/**
 * One entry of a write log, as {@link LogReader} found it.
 *
 * @param index           0-based position in the log (xfstests' entry number)
 * @param headerOffsetBytes where the entry's header block starts in the log
 * @param sector          first block written, in {@code sectorsize} units of the data device
 * @param nrSectors       blocks written or discarded, in the same units
 * @param flags           {@link LogWritesFormat} FLAG_* bits
 * @param mark            the mark's text for a MARK entry, else null
 * @param dataOffsetBytes where the written data starts in the log (meaningful when {@link #hasData()})
 */
public record LogEntry(long index, long headerOffsetBytes, long sector, long nrSectors, long flags, String mark,
        long dataOffsetBytes) {

    public boolean isFlush() {
        return (flags & LogWritesFormat.FLAG_FLUSH) != 0;
    }

    public boolean isFua() {
        return (flags & LogWritesFormat.FLAG_FUA) != 0;
    }

    public boolean isDiscard() {
        return (flags & LogWritesFormat.FLAG_DISCARD) != 0;
    }

    public boolean isMark() {
        return (flags & LogWritesFormat.FLAG_MARK) != 0;
    }

    /** True when written data follows the header (a write, possibly with FLUSH/FUA; not a discard or mark). */
    public boolean hasData() {
        return !isDiscard() && !isMark() && nrSectors > 0;
    }

    /** Kind for listings: {@code write}, {@code flush}, {@code discard} or {@code mark}. */
    public String kind() {
        if (isMark()) {
            return "mark";
        }
        if (isDiscard()) {
            return "discard";
        }
        return nrSectors == 0 && isFlush() ? "flush" : "write";
    }

    @Override
    public String toString() {
        return "entry " + index + " (" + kind() + (isMark() ? " " + mark : "") + ", " + LogWritesFormat.flagNames(flags)
                + ", sector " + sector + " +" + nrSectors + ", log byte " + headerOffsetBytes + ")";
    }
}
