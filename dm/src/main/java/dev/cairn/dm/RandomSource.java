package dev.cairn.dm;

import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * Where targets that inject faults at random (flakey's {@code random_read_corrupt}/{@code random_write_corrupt})
 * draw from, injected through {@link RegistryOptions} as the clock is. A seeded source gives each target its own
 * generator, derived from the seed, the device name and the table line, so a fault run can be replayed: the same
 * seed and the same I/O in the same order draw the same faults (I/O from several threads may arrive in another
 * order, and then draws differ).
 *
 * <p>Thread safety: a source is immutable; each generator it hands out is not thread-safe and belongs to one
 * target, which synchronizes its draws.
 */
public final class RandomSource {
    private final long seed;
    private final boolean seeded;

    private RandomSource(long seed, boolean seeded) {
        this.seed = seed;
        this.seeded = seeded;
    }

    /** Replayable: every generator derives from {@code seed}. */
    public static RandomSource seeded(long seed) {
        return new RandomSource(seed, true);
    }

    /** A new unpredictable seed for every generator (the default). */
    public static RandomSource unseeded() {
        return new RandomSource(0, false);
    }

    /** The seed, if this source has one (to print it, so a failing run can be replayed). */
    public java.util.OptionalLong seed() {
        return seeded ? java.util.OptionalLong.of(seed) : java.util.OptionalLong.empty();
    }

    /** A generator for the target on {@code lineNumber} of device {@code deviceName}'s table. */
    public RandomGenerator generatorFor(String deviceName, int lineNumber) {
        if (!seeded) {
            return new SplittableRandom();
        }
        // mix, so neighbouring lines and similar names do not get correlated streams
        long h = seed;
        h = h * 0x9E3779B97F4A7C15L + deviceName.hashCode();
        h = h * 0x9E3779B97F4A7C15L + lineNumber;
        return new SplittableRandom(h);
    }

    @Override
    public String toString() {
        return seeded ? "RandomSource[seed " + seed + "]" : "RandomSource[unseeded]";
    }
}
