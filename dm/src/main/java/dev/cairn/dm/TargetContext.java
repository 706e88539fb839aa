package dev.cairn.dm;

import dev.cairn.block.BioSet;
import dev.cairn.block.Submitter;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * What dm core gives a target for one table line: where the target sits in the mapped device, the
 * {@link Submitter} to submit through, bio sets, a resolver for device references, an injected
 * clock and a way to raise an event.
 *
 * <p>Devices opened here (or through {@link TargetArgs#openDevice}) are dependencies of the table:
 * the mapped device holds them while the table exists and releases them when it is destroyed (or
 * when the table fails to load). Bio sets made here are closed with the table. A device that reaches a
 * writable leaf another device of the same target reaches is refused as it is opened ({@link LeafAliases}).
 *
 * <p>Thread safety: the getters may be called from any thread; {@link #open} and
 * {@link #newBioSet} only from the target's constructor (the table is being built on one thread).
 */
public final class TargetContext {
    private final MappedDevice device;
    private final DeviceResolver resolver;
    private final String typeName;
    private final int lineNumber;
    private final long beginSector;
    private final long lengthSectors;
    private final List<DeviceRef> opened = new ArrayList<>();
    private final List<BioSet> bioSets = new ArrayList<>();
    private boolean sharedLeavesAllowed;

    TargetContext(MappedDevice device, DeviceResolver resolver, String typeName, int lineNumber, long beginSector,
            long lengthSectors) {
        this.device = device;
        this.resolver = resolver;
        this.typeName = typeName;
        this.lineNumber = lineNumber;
        this.beginSector = beginSector;
        this.lengthSectors = lengthSectors;
    }

    /** First sector of this target in the mapped device. */
    public long beginSector() {
        return beginSector;
    }

    /** Length of this target in sectors. */
    public long lengthSectors() {
        return lengthSectors;
    }

    /** {@code sector - beginSector()}: a mapped-device sector as an offset into this target (Linux {@code dm_target_offset}). */
    public long targetOffset(long sector) {
        return sector - beginSector;
    }

    /** The table line (1-based) this target was built from. */
    public int lineNumber() {
        return lineNumber;
    }

    /** The target type's name, e.g. {@code linear}. */
    public String typeName() {
        return typeName;
    }

    /** The name of the mapped device this target belongs to. */
    public String deviceName() {
        return device.name();
    }

    /** The mapped device (to resubmit bios to it, as a target that defers I/O may). */
    public MappedDevice mappedDevice() {
        return device;
    }

    /** The submitter of the mapped device: submit remapped or new bios through it. */
    public Submitter submitter() {
        return device.submitter();
    }

    /** The clock for time-based behaviour (flakey's up/down cycle, delay deadlines); injected, never the system clock directly. */
    public InstantSource clock() {
        return resolver.clock();
    }

    /**
     * A new bio set for bios the target allocates itself (its own clones, copy I/O), closed with the
     * table. Its name is prefixed with the device name and line number.
     */
    public BioSet newBioSet(String name, int capacity) {
        BioSet set = submitter().newBioSet(device.name() + "-" + lineNumber + "-" + name, capacity);
        bioSets.add(set);
        return set;
    }

    /**
     * Opens a device by reference (a mapped or leaf device's name, or a leaf reference such as
     * {@code mem:SIZE}, {@code file:PATH}, {@code rbd:POOL/IMAGE}; see {@link LeafType}) and records it as a dependency of the table. Errors name the line and target;
     * prefer {@link TargetArgs#openDevice}, whose errors also name the argument.
     */
    public DeviceRef open(String spec) throws TableException {
        try {
            DeviceRef ref = resolver.open(spec, device);
            opened.add(ref); // released with the context if the check below fails
            String alias = sharedLeavesAllowed ? null : LeafAliases.check(ref, opened);
            if (alias != null) {
                throw new DmException(spec + " (expected: " + alias + ")");
            }
            return ref;
        } catch (DmException e) {
            throw new TableException(lineNumber, "line " + lineNumber + ": " + typeName + ": " + e.getMessage(), e);
        }
    }

    /**
     * Lets this target's devices reach the same sectors of a writable leaf, or one file through two paths
     * ({@link LeafAliases} refuses both by default). Call it before opening them, and only in a target that
     * keeps such aliases coherent itself.
     */
    public void allowSharedLeaves() {
        sharedLeavesAllowed = true;
    }

    /**
     * True while the mapped device is being (or is) suspended with {@link SuspendMode#NOFLUSH} (Linux
     * {@code dm_noflush_suspending}): from {@link Target#presuspend()} on, I/O the target ends with a
     * requeue is held and replayed after the resume.
     */
    public boolean noflushSuspending() {
        return device.isNoflushSuspending();
    }

    /** Raises an event on the mapped device: its event number goes up (Linux {@code dm_table_event}). */
    public void triggerEvent() {
        device.raiseEvent();
    }

    /**
     * State shared by every target of one {@link DeviceRegistry} under {@code key}, made by
     * {@code factory} on first use (for example the snapshots registered on an origin). The factory
     * runs at most once per key; the value must be thread-safe.
     */
    public <T> T shared(SharedKey<T> key, Supplier<? extends T> factory) {
        return resolver.shared(key, factory);
    }

    LeafTypes leafTypes() {
        return resolver.leafTypes();
    }

    /**
     * A random generator of this target's own, from the registry's injected {@link RandomSource} (seeded, it
     * replays: the same seed, device and line give the same draws). Not thread-safe: synchronize the draws.
     */
    public java.util.random.RandomGenerator newRandom() {
        return resolver.random().generatorFor(device.name(), lineNumber);
    }

    List<DeviceRef> opened() {
        return opened;
    }

    List<BioSet> bioSets() {
        return bioSets;
    }

    @Override
    public String toString() {
        return device.name() + " line " + lineNumber + " " + typeName + " [" + beginSector + ", +" + lengthSectors + ")";
    }
}
