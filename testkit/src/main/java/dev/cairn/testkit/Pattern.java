package dev.cairn.testkit;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Optional;

/**
 * Self-checking data (nbdkit's pattern idea): the byte at device offset {@code X} written in
 * generation {@code G} is a fixed function of {@code (X, G)}, so a read can be checked without keeping
 * a copy, and data that landed at the wrong offset or is stale is recognised as such.
 *
 * <pre>{@code
 * MemorySegment data = Pattern.segment(offsetBytes, 8192, 7);        // generation 7
 * Io.write(submitter, device, offsetBytes / 512, data);
 * MemorySegment back = Io.readOk(submitter, device, offsetBytes / 512, 8192);
 * Pattern.check(back, offsetBytes, 7);  // AssertionError: "... at offset 4608: expected generation 7, found generation 6"
 * }</pre>
 *
 * <p>Layout: each 8-byte aligned word of the device is {@code mix(1 << 63 | G << 39 | X / 8)} in little-endian
 * order, where {@code mix} is the invertible murmur3 finaliser. Every byte depends on both the offset
 * and the generation, a pattern word is never zero, and any whole word found on a device decodes back
 * to its generation (or is unrecognised). Offsets up to 4 TiB and generations {@code 0..}{@link #MAX_GENERATION}.
 *
 * <p>Thread safety: stateless.
 */
public final class Pattern {
    /** The largest generation (24 bits). */
    public static final int MAX_GENERATION = (1 << 24) - 1;
    /** {@link #generationOf} answer for data that is all zeros. */
    public static final int ZEROS = -1;
    /** {@link #generationOf} answer for data that is no generation of this pattern at this offset. */
    public static final int UNRECOGNISED = -2;
    /** {@link #generationOf} answer for data made of pieces of several generations (or of zeros and one generation). */
    public static final int MIXED = -3;

    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long OFFSET_MASK = (1L << 39) - 1;
    private static final long C1 = 0xff51afd7ed558ccdL;
    private static final long C2 = 0xc4ceb9fe1a85ec53L;
    private static final long C1_INV = inverse(C1);
    private static final long C2_INV = inverse(C2);

    private Pattern() {}

    /** The 8-byte word at {@code wordOffsetBytes} (a multiple of 8) for {@code generation}. */
    public static long word(long wordOffsetBytes, int generation) {
        checkGeneration(generation);
        long plain = Long.MIN_VALUE | ((long) generation << 39) | ((wordOffsetBytes >>> 3) & OFFSET_MASK);
        return mix(plain);
    }

    /** The byte at device offset {@code offsetBytes} for {@code generation}. */
    public static byte byteAt(long offsetBytes, int generation) {
        return (byte) (word(offsetBytes & ~7L, generation) >>> ((offsetBytes & 7) << 3));
    }

    /** Fills all of {@code segment} with the data of device offsets {@code [deviceOffsetBytes, +size)}. */
    public static void fill(MemorySegment segment, long deviceOffsetBytes, int generation) {
        checkGeneration(generation);
        long size = segment.byteSize();
        long i = 0;
        while (i < size && ((deviceOffsetBytes + i) & 7) != 0) {
            segment.set(ValueLayout.JAVA_BYTE, i, byteAt(deviceOffsetBytes + i, generation));
            i++;
        }
        for (; i + 8 <= size; i += 8) {
            segment.set(WORD, i, word(deviceOffsetBytes + i, generation));
        }
        for (; i < size; i++) {
            segment.set(ValueLayout.JAVA_BYTE, i, byteAt(deviceOffsetBytes + i, generation));
        }
    }

    /** A new heap segment of {@code lengthBytes} holding the data of {@code deviceOffsetBytes} for {@code generation}. */
    public static MemorySegment segment(long deviceOffsetBytes, int lengthBytes, int generation) {
        MemorySegment s = MemorySegment.ofArray(new byte[lengthBytes]);
        fill(s, deviceOffsetBytes, generation);
        return s;
    }

    /**
     * The first byte of {@code segment} (holding device offsets from {@code deviceOffsetBytes}) that is not
     * {@code generation}'s, or empty when all match.
     */
    public static Optional<Mismatch> verify(MemorySegment segment, long deviceOffsetBytes, int generation) {
        checkGeneration(generation);
        long size = segment.byteSize();
        for (long i = 0; i < size; ) {
            long device = deviceOffsetBytes + i;
            if ((device & 7) == 0 && i + 8 <= size) {
                if (segment.get(WORD, i) != word(device, generation)) {
                    for (int b = 0; b < 8; b++) {
                        if (segment.get(ValueLayout.JAVA_BYTE, i + b) != byteAt(device + b, generation)) {
                            return Optional.of(mismatch(segment, deviceOffsetBytes, i + b, generation));
                        }
                    }
                }
                i += 8;
            } else {
                if (segment.get(ValueLayout.JAVA_BYTE, i) != byteAt(device, generation)) {
                    return Optional.of(mismatch(segment, deviceOffsetBytes, i, generation));
                }
                i++;
            }
        }
        return Optional.empty();
    }

    /** Like {@link #verify} but throws an {@link AssertionError} that describes the first mismatch. */
    public static void check(MemorySegment segment, long deviceOffsetBytes, int generation) {
        verify(segment, deviceOffsetBytes, generation).ifPresent(m -> {
            throw new AssertionError(m.toString());
        });
    }

    /**
     * What {@code segment} (holding device offsets from {@code deviceOffsetBytes}, both multiples of 8 in
     * offset and length) contains: one generation, {@link #ZEROS}, {@link #MIXED} or {@link #UNRECOGNISED}.
     * For crash tests, where a range may hold the old or the new generation but nothing else.
     */
    public static int generationOf(MemorySegment segment, long deviceOffsetBytes) {
        if ((deviceOffsetBytes & 7) != 0 || (segment.byteSize() & 7) != 0) {
            throw new IllegalArgumentException("range: [" + deviceOffsetBytes + ", +" + segment.byteSize()
                    + ") (expected: offset and length multiples of 8)");
        }
        int found = Integer.MIN_VALUE;
        for (long i = 0; i < segment.byteSize(); i += 8) {
            int g = decode(segment.get(WORD, i), deviceOffsetBytes + i);
            if (g == UNRECOGNISED) {
                return UNRECOGNISED;
            }
            if (found == Integer.MIN_VALUE) {
                found = g;
            } else if (found != g) {
                found = MIXED;
            }
        }
        return found == Integer.MIN_VALUE ? ZEROS : found;
    }

    /** {@link #generationOf} for each 512-byte sector of {@code segment} (offset and length multiples of 512). */
    public static int[] sectorGenerations(MemorySegment segment, long deviceOffsetBytes) {
        if ((deviceOffsetBytes & 511) != 0 || (segment.byteSize() & 511) != 0) {
            throw new IllegalArgumentException("range: [" + deviceOffsetBytes + ", +" + segment.byteSize()
                    + ") (expected: offset and length multiples of 512)");
        }
        int[] out = new int[(int) (segment.byteSize() >>> 9)];
        for (int s = 0; s < out.length; s++) {
            out[s] = generationOf(segment.asSlice((long) s << 9, 512), deviceOffsetBytes + ((long) s << 9));
        }
        return out;
    }

    /** The generation of one whole word found at {@code wordOffsetBytes}, {@link #ZEROS} or {@link #UNRECOGNISED}. */
    public static int decode(long word, long wordOffsetBytes) {
        if (word == 0) {
            return ZEROS;
        }
        long plain = unmix(word);
        if (plain >= 0 || (plain & OFFSET_MASK) != ((wordOffsetBytes >>> 3) & OFFSET_MASK)) {
            return UNRECOGNISED;
        }
        return (int) ((plain >>> 39) & MAX_GENERATION);
    }

    private static Mismatch mismatch(MemorySegment segment, long deviceOffsetBytes, long index, int generation) {
        long device = deviceOffsetBytes + index;
        long wordStart = (device & ~7L) - deviceOffsetBytes;
        int actualGeneration = UNRECOGNISED;
        if (wordStart >= 0 && wordStart + 8 <= segment.byteSize()) {
            actualGeneration = decode(segment.get(WORD, wordStart), device & ~7L);
        }
        return new Mismatch(device, generation, actualGeneration, byteAt(device, generation),
                segment.get(ValueLayout.JAVA_BYTE, index));
    }

    /**
     * The first byte that did not match.
     *
     * @param offsetBytes        device offset of the byte
     * @param expectedGeneration the generation that was expected
     * @param actualGeneration   the generation of the word found there, or {@link #ZEROS} or {@link #UNRECOGNISED}
     * @param expectedByte       what the byte should be
     * @param actualByte         what it is
     */
    public record Mismatch(long offsetBytes, int expectedGeneration, int actualGeneration, byte expectedByte,
                           byte actualByte) {
        @Override
        public String toString() {
            return String.format("pattern mismatch at offset %d (sector %d + %d): expected generation %d (byte 0x%02x), "
                            + "found %s (byte 0x%02x)", offsetBytes, offsetBytes >>> 9, offsetBytes & 511,
                    expectedGeneration, expectedByte & 0xff, describe(actualGeneration), actualByte & 0xff);
        }
    }

    /** Human-readable form of a {@link #generationOf} answer. */
    public static String describe(int generation) {
        return switch (generation) {
            case ZEROS -> "zeros";
            case UNRECOGNISED -> "unrecognised data";
            case MIXED -> "mixed generations";
            default -> "generation " + generation;
        };
    }

    private static void checkGeneration(int generation) {
        if (generation < 0 || generation > MAX_GENERATION) {
            throw new IllegalArgumentException("generation: " + generation + " (expected: 0.." + MAX_GENERATION + ")");
        }
    }

    private static long mix(long x) {
        x ^= x >>> 33;
        x *= C1;
        x ^= x >>> 33;
        x *= C2;
        x ^= x >>> 33;
        return x;
    }

    private static long unmix(long x) {
        x ^= x >>> 33;
        x *= C2_INV;
        x ^= x >>> 33;
        x *= C1_INV;
        x ^= x >>> 33;
        return x;
    }

    /** Multiplicative inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits). */
    private static long inverse(long a) {
        long x = a;
        for (int i = 0; i < 5; i++) {
            x *= 2 - a * x;
        }
        return x;
    }
}
