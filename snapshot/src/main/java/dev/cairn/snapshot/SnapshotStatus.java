package dev.cairn.snapshot;

/**
 * The INFO status of a {@code snapshot} or {@code snapshot-merge} target, parsed (for the CLI's
 * {@code snapshot ls} and for waiting on a merge).
 *
 * @param state            what the line says
 * @param allocatedSectors {@code <allocated>} (0 unless {@link State#ACTIVE})
 * @param totalSectors     {@code <total>}, the COW size (0 unless active)
 * @param metadataSectors  {@code <metadata>} (0 unless active)
 */
public record SnapshotStatus(State state, long allocatedSectors, long totalSectors, long metadataSectors) {

    /** The forms of the line, as Linux prints them. */
    public enum State {
        /** {@code <allocated>/<total> <metadata>}. */
        ACTIVE,
        /** {@code Invalid}: overflowed ({@code P}, {@code N}) or an I/O error; all I/O fails. */
        INVALID,
        /** {@code Overflow}: a {@code PO} snapshot is full; reads work, writes fail. */
        OVERFLOW,
        /** {@code Merge failed}: the merge stopped after an I/O error. */
        MERGE_FAILED,
        /** {@code Unknown}: a store with no usage (Linux only). */
        UNKNOWN
    }

    /**
     * A {@code snapshot} or {@code snapshot-merge} target seen from outside its module: its status,
     * typed, as its INFO line would say it ({@code MappedDevice.liveTargets(SnapshotStatus.Source.class)}).
     */
    public interface Source {
        SnapshotStatus snapshotStatus();
    }

    /** The INFO parameters, as Linux prints them ({@link #parse} reads them back). */
    public String toInfo() {
        return switch (state) {
            case ACTIVE -> allocatedSectors + "/" + totalSectors + " " + metadataSectors;
            case INVALID -> "Invalid";
            case OVERFLOW -> "Overflow";
            case MERGE_FAILED -> "Merge failed";
            case UNKNOWN -> "Unknown";
        };
    }

    /** Parses the target's INFO parameters (the part after the target name). */
    public static SnapshotStatus parse(String params) {
        String p = params.strip();
        switch (p) {
            case "Invalid" -> {
                return new SnapshotStatus(State.INVALID, 0, 0, 0);
            }
            case "Overflow" -> {
                return new SnapshotStatus(State.OVERFLOW, 0, 0, 0);
            }
            case "Merge failed" -> {
                return new SnapshotStatus(State.MERGE_FAILED, 0, 0, 0);
            }
            case "Unknown" -> {
                return new SnapshotStatus(State.UNKNOWN, 0, 0, 0);
            }
            default -> { }
        }
        int slash = p.indexOf('/');
        int space = p.indexOf(' ');
        if (slash <= 0 || space <= slash) {
            throw new IllegalArgumentException("snapshot status: " + params
                    + " (expected: <allocated>/<total> <metadata>, Invalid, Overflow, Merge failed or Unknown)");
        }
        try {
            return new SnapshotStatus(State.ACTIVE, Long.parseLong(p.substring(0, slash)),
                    Long.parseLong(p.substring(slash + 1, space)), Long.parseLong(p.substring(space + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("snapshot status: " + params + " (expected: <allocated>/<total> <metadata>)", e);
        }
    }

    /** For a {@code snapshot-merge} target: every exception has been merged ({@code allocated == metadata}). */
    public boolean isMergeDone() {
        return state == State.ACTIVE && allocatedSectors == metadataSectors;
    }

    /** Percentage of the COW in use, as {@code lvs} shows it ({@code Data%}); 0 unless active. */
    public double usedPercent() {
        return state == State.ACTIVE && totalSectors > 0 ? 100.0 * allocatedSectors / totalSectors : 0;
    }
}
