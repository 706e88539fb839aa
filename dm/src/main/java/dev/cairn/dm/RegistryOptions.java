package dev.cairn.dm;

import java.time.InstantSource;
import java.util.Objects;

/**
 * Configuration of a {@link DeviceRegistry}.
 *
 * @param clock              the clock handed to targets (flakey, delay); tests inject a fake one
 * @param leafTypes          the leaf references tables may use ({@code mem:}, {@code file:}, {@code rbd:}...)
 * @param targetTypes        the target types tables may use
 * @param cloneBioSetCapacity bios in each mapped device's clone pool (its per-bio reserve)
 * @param random             where targets that inject faults at random draw from; tests seed it to replay a run
 */
public record RegistryOptions(InstantSource clock, LeafTypes leafTypes, TargetTypes targetTypes, int cloneBioSetCapacity,
        RandomSource random) {
    public RegistryOptions {
        Objects.requireNonNull(random, "random");
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(leafTypes, "leafTypes");
        Objects.requireNonNull(targetTypes, "targetTypes");
        if (cloneBioSetCapacity < 1) {
            throw new IllegalArgumentException("cloneBioSetCapacity: " + cloneBioSetCapacity + " (expected: >= 1)");
        }
    }

    /** Every leaf type on the class path, with {@code file:} opened by {@code fileOpener}; an unseeded random source. */
    public RegistryOptions(InstantSource clock, LeafOpener fileOpener, TargetTypes targetTypes, int cloneBioSetCapacity) {
        this(clock, LeafTypes.load().with(new FileLeafType(fileOpener)), targetTypes, cloneBioSetCapacity,
                RandomSource.unseeded());
    }

    /**
     * The system clock, every leaf and target type on the class path, 1024 clones per device, an unseeded
     * random source.
     */
    public static RegistryOptions defaults() {
        return new RegistryOptions(InstantSource.system(), LeafTypes.load(), TargetTypes.load(), 1024,
                RandomSource.unseeded());
    }

    public RegistryOptions withClock(InstantSource value) {
        return new RegistryOptions(value, leafTypes, targetTypes, cloneBioSetCapacity, random);
    }

    /** These leaf types with {@code file:} opened by {@code value}. */
    public RegistryOptions withFileOpener(LeafOpener value) {
        return withLeafTypes(leafTypes.with(new FileLeafType(value)));
    }

    public RegistryOptions withLeafTypes(LeafTypes value) {
        return new RegistryOptions(clock, value, targetTypes, cloneBioSetCapacity, random);
    }

    public RegistryOptions withTargetTypes(TargetTypes value) {
        return new RegistryOptions(clock, leafTypes, value, cloneBioSetCapacity, random);
    }

    public RegistryOptions withCloneBioSetCapacity(int value) {
        return new RegistryOptions(clock, leafTypes, targetTypes, value, random);
    }

    public RegistryOptions withRandom(RandomSource value) {
        return new RegistryOptions(clock, leafTypes, targetTypes, cloneBioSetCapacity, value);
    }
}
