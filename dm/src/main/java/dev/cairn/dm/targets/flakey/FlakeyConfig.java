package dev.cairn.dm.targets.flakey;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import java.util.Objects;

/**
 * Arguments of {@code flakey <dev> <offset> <up_seconds> <down_seconds> [<#feat> <feat>...]} (Linux
 * {@code dm-flakey}, with the features of Linux 6.x):
 *
 * <ul>
 *   <li>{@code error_reads}: reads fail while down;</li>
 *   <li>{@code drop_writes}: writes succeed without reaching the device while down;</li>
 *   <li>{@code error_writes}: writes fail while down;</li>
 *   <li>{@code corrupt_bio_byte <Nth_byte> <r|w> <value> <flags>}: while down, byte N (from 1) of each
 *       matching read (after it completes) or write (in a copy, before it goes down) becomes
 *       {@code value}; only bios with all of {@code flags} set match (Cairn's {@code BioFlags} bits; 0
 *       matches all);</li>
 *   <li>{@code random_read_corrupt <p>} / {@code random_write_corrupt <p>}: while down, one random
 *       byte of a read/write is replaced with probability {@code p / 1000000000}.</li>
 * </ul>
 * With no features at all, reads and writes fail while down (as {@code error_reads error_writes}).
 *
 * @param device        the lower device reference
 * @param offsetSectors where this target starts on the lower device
 * @param upSeconds     seconds of normal behaviour per cycle, from the moment the table is loaded
 * @param downSeconds   seconds of unreliable behaviour per cycle
 * @param features      the effective features
 */
public record FlakeyConfig(String device, long offsetSectors, long upSeconds, long downSeconds, Features features) {
    public static final String USAGE = "<dev> <offset> <up_seconds> <down_seconds> [<#feat> <feat>...]";
    public static final long UINT_MAX = 0xFFFF_FFFFL;
    /** Probabilities are out of this (Linux {@code PROBABILITY_BASE}). */
    public static final long PROBABILITY_BASE = 1_000_000_000L;

    /** {@code corrupt_bio_byte <Nth_byte> <r|w> <value> <flags>}. */
    public record CorruptByte(long nthByte, boolean write, int value, long flags) {
        String toTable() {
            return "corrupt_bio_byte " + nthByte + " " + (write ? 'w' : 'r') + " " + value + " " + flags;
        }
    }

    /**
     * The feature set.
     *
     * @param corruptByte        null when not set
     * @param randomReadCorrupt  probability out of {@link #PROBABILITY_BASE}; 0 when not set
     * @param randomWriteCorrupt likewise for writes
     */
    public record Features(boolean errorReads, boolean dropWrites, boolean errorWrites, CorruptByte corruptByte,
            long randomReadCorrupt, long randomWriteCorrupt) {
        /** No feature given: reads and writes error while down. */
        public static final Features DEFAULT = new Features(true, false, true, null, 0, 0);

        /** The TABLE form: {@code <#args> <feat>...}, in Linux's order. */
        String toTable() {
            int count = (errorReads ? 1 : 0) + (dropWrites ? 1 : 0) + (errorWrites ? 1 : 0) + (corruptByte != null ? 5 : 0)
                    + (randomReadCorrupt > 0 ? 2 : 0) + (randomWriteCorrupt > 0 ? 2 : 0);
            StringBuilder sb = new StringBuilder().append(count);
            if (errorReads) {
                sb.append(" error_reads");
            }
            if (dropWrites) {
                sb.append(" drop_writes");
            } else if (errorWrites) {
                sb.append(" error_writes");
            }
            if (corruptByte != null) {
                sb.append(' ').append(corruptByte.toTable());
            }
            if (randomReadCorrupt > 0) {
                sb.append(" random_read_corrupt ").append(randomReadCorrupt);
            }
            if (randomWriteCorrupt > 0) {
                sb.append(" random_write_corrupt ").append(randomWriteCorrupt);
            }
            return sb.toString();
        }
    }

    public FlakeyConfig {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(features, "features");
    }

    public static FlakeyConfig parse(TargetArgs args) throws TableException {
        args.expectAtLeast(4, USAGE);
        String dev = args.nextDeviceSpec("dev");
        long offset = args.nextSector("offset");
        long up = args.nextLong("up_seconds", 0, UINT_MAX);
        long down = args.nextLong("down_seconds", 0, UINT_MAX);
        if (up + down == 0) {
            throw args.error("up_seconds + down_seconds", 0, "> 0");
        }
        if (up + down > UINT_MAX) {
            throw args.error("up_seconds + down_seconds", up + down, "<= " + UINT_MAX);
        }
        Features features = parseFeatures(args.nextFeatures("#features", 11), args);
        args.expectEnd();
        return new FlakeyConfig(dev, offset, up, down, features);
    }

    private static Features parseFeatures(TargetArgs f, TargetArgs outer) throws TableException {
        boolean errorReads = false;
        boolean dropWrites = false;
        boolean errorWrites = false;
        CorruptByte corrupt = null;
        long rr = 0;
        long rw = 0;
        if (f.size() == 0) {
            return Features.DEFAULT;
        }
        while (f.hasNext()) {
            String name = f.nextKeyword("feature", "error_reads", "drop_writes", "error_writes", "corrupt_bio_byte",
                    "random_read_corrupt", "random_write_corrupt");
            switch (name) {
                case "error_reads" -> {
                    dup(f, name, errorReads);
                    errorReads = true;
                }
                case "drop_writes" -> {
                    dup(f, name, dropWrites);
                    if (errorWrites) {
                        throw f.error("feature", name, "not with error_writes");
                    }
                    dropWrites = true;
                }
                case "error_writes" -> {
                    dup(f, name, errorWrites);
                    if (dropWrites) {
                        throw f.error("feature", name, "not with drop_writes");
                    }
                    errorWrites = true;
                }
                case "corrupt_bio_byte" -> {
                    dup(f, name, corrupt != null);
                    if (f.remaining() < 4) {
                        throw f.error(name, f.remaining() + " parameters", "4: <Nth_byte> <r|w> <value> <flags>");
                    }
                    long nth = f.nextLong("Nth_byte", 1, UINT_MAX);
                    boolean w = f.nextKeyword("direction", "r", "w").equals("w");
                    int value = f.nextInt("value", 0, 255);
                    long flags = f.nextLong("flags", 0, UINT_MAX);
                    corrupt = new CorruptByte(nth, w, value, flags);
                }
                case "random_read_corrupt" -> {
                    dup(f, name, rr > 0);
                    if (!f.hasNext()) {
                        throw f.error(name, "no parameter", "1: <probability out of " + PROBABILITY_BASE + ">");
                    }
                    rr = f.nextLong("probability", 0, PROBABILITY_BASE);
                }
                default -> {
                    dup(f, name, rw > 0);
                    if (!f.hasNext()) {
                        throw f.error(name, "no parameter", "1: <probability out of " + PROBABILITY_BASE + ">");
                    }
                    rw = f.nextLong("probability", 0, PROBABILITY_BASE);
                }
            }
        }
        boolean corruptWrites = (corrupt != null && corrupt.write()) || rw > 0;
        boolean corruptReads = (corrupt != null && !corrupt.write()) || rr > 0;
        if (dropWrites && corruptWrites) {
            throw f.error("feature", "drop_writes", "not with random_write_corrupt or corrupt_bio_byte w");
        }
        if (errorWrites && corruptWrites) {
            throw f.error("feature", "error_writes", "not with random_write_corrupt or corrupt_bio_byte w");
        }
        if (errorReads && corruptReads) {
            throw f.error("feature", "error_reads", "not with random_read_corrupt or corrupt_bio_byte r");
        }
        if (!errorReads && !dropWrites && !errorWrites && corrupt == null && rr == 0 && rw == 0) {
            return Features.DEFAULT;
        }
        return new Features(errorReads, dropWrites, errorWrites, corrupt, rr, rw);
    }

    private static void dup(TargetArgs f, String name, boolean seen) throws TableException {
        if (seen) {
            throw f.error("feature", name, "each feature at most once");
        }
    }

    /** The TABLE status form: {@code <dev> <offset> <up> <down> <#args> <feat>...}. */
    public String toTable() {
        return device + " " + offsetSectors + " " + upSeconds + " " + downSeconds + " " + features.toTable();
    }
}
