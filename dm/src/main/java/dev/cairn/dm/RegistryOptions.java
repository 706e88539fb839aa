package dev.cairn.dm;

import java.time.InstantSource;
import java.util.Objects;

/**
 * Configuration of a {@link DeviceRegistry}.
 *
 * @param clock              the clock handed to targets (flakey, delay); tests inject a fake one
 * @param fileOpener         opens {@code file:PATH} leaves
 * @param targetTypes        the target types tables may use
 * @param cloneBioSetCapacity bios in each mapped device's clone pool (its per-bio reserve)
 * @param random             where targets that inject faults at random draw from; tests seed it to replay a run
 */
public record RegistryOptions(InstantSource clock, LeafOpener fileOpener, TargetTypes targetTypes, int cloneBioSetCapacity,
        RandomSource random) {
    public RegistryOptions {
        Objects.requireNonNull(random, "random");
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(fileOpener, "fileOpener");
        Objects.requireNonNull(targetTypes, "targetTypes");
        if (cloneBioSetCapacity < 1) {
            throw new IllegalArgumentException("cloneBioSetCapacity: " + cloneBioSetCapacity + " (expected: >= 1)");
        }
    }

    /**
     * The system clock, FileStore for {@code file:}, every target type on the class path, 1024 clones per device,
     * an unseeded random source.
     */
    public static RegistryOptions defaults() {
        return new RegistryOptions(InstantSource.system(), LeafOpener.fileStore(), TargetTypes.load(), 1024,
                RandomSource.unseeded());
    }

    public RegistryOptions withClock(InstantSource value) {
        return new RegistryOptions(value, fileOpener, targetTypes, cloneBioSetCapacity, random);
    }

    public RegistryOptions withFileOpener(LeafOpener value) {
        return new RegistryOptions(clock, value, targetTypes, cloneBioSetCapacity, random);
    }

    public RegistryOptions withTargetTypes(TargetTypes value) {
        return new RegistryOptions(clock, fileOpener, value, cloneBioSetCapacity, random);
    }

    public RegistryOptions withCloneBioSetCapacity(int value) {
        return new RegistryOptions(clock, fileOpener, targetTypes, value, random);
    }

    public RegistryOptions withRandom(RandomSource value) {
        return new RegistryOptions(clock, fileOpener, targetTypes, cloneBioSetCapacity, value);
    }
}
