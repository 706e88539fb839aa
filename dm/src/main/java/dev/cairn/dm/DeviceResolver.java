package dev.cairn.dm;

import java.time.InstantSource;
import java.util.function.Supplier;

/** What a table needs from its registry while it is built and destroyed. */
interface DeviceResolver {
    /** Opens {@code spec} for a table of {@code holder}; errors are {@code "<what>: <value> (expected: ...)"}. */
    DeviceRef open(String spec, MappedDevice holder) throws DmException;

    /** Releases a reference returned by {@link #open}. */
    void release(DeviceRef ref, MappedDevice holder);

    InstantSource clock();

    /** The leaf types references may name. */
    LeafTypes leafTypes();

    RandomSource random();

    <T> T shared(SharedKey<T> key, Supplier<? extends T> factory);
}
