package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;

/**
 * One line of a table, constructed by its {@link TargetType} (Linux {@code struct dm_target} plus the
 * per-instance half of {@code struct target_type}). Only {@link #map} and {@link #statusTable} are
 * required; everything else has a default that suits a simple remapping target.
 *
 * <h2>What dm core guarantees a target</h2>
 * <ul>
 *   <li>{@code map} sees only clones that lie inside this target, are no longer than
 *       {@link #maxIoSectors()} and do not cross a multiple of it (measured from the target's start).
 *       Clone sectors are in the mapped device's sector space: subtract
 *       {@link TargetContext#beginSector()} (or use {@link TargetContext#targetOffset}).</li>
 *   <li>An empty FLUSH reaches every target as {@link #numFlushBios()} clones of op FLUSH;
 *       {@link TargetIo#leg()} says which one. A data bio with PREFLUSH is split by dm core into that
 *       flush fan-out first and the data (without PREFLUSH) after it has succeeded.</li>
 *   <li>DISCARD and WRITE_ZEROES go to {@link #numDiscardBios()} clones; when that is more than one
 *       (a striped target), they are split only at target boundaries, not at {@code maxIoSectors}.</li>
 *   <li>The clone's end-io and per-bio context belong to dm core: read {@link TargetIo#of(Bio)} but
 *       never call {@link Bio#setEndIo} on a clone.</li>
 *   <li>{@code map} may be called concurrently from many threads; it must not wait for a bio it
 *       submitted itself, and it must wait only through the block layer's primitives.</li>
 *   <li>No I/O is in flight through a target when {@link #postsuspend()} or {@link #close()} runs.</li>
 * </ul>
 *
 * <p>Thread safety: implementations must accept concurrent {@code map} and {@code endIo} calls; the
 * other methods are called by dm core under the device's control lock, one at a time.
 */
public interface Target {

    /** Maps one clone; see {@link MapResult} for what each result means and who owns the clone after. */
    MapResult map(Bio clone);

    /**
     * Called when a clone that was {@link MapResult.Remapped remapped} or
     * {@link MapResult.Submitted submitted} completes, with its status. The default keeps the status.
     */
    default EndIoResult endIo(Bio clone, BioStatus status) {
        return EndIoResult.done(status);
    }

    /** Largest piece {@code map} accepts, in sectors; 0 means no limit beyond the target's end. Read once at load. */
    default long maxIoSectors() {
        return 0;
    }

    /** How many empty flush clones this target receives for one FLUSH (one per leg). Read once at load. */
    default int numFlushBios() {
        return 1;
    }

    /** How many clones of each DISCARD or WRITE_ZEROES piece this target receives (one per leg). Read once at load. */
    default int numDiscardBios() {
        return 1;
    }

    /**
     * True when this target's READ clones reach a lower device with their data untouched and nothing of the
     * target's own in their place: a pure remap ({@code linear}, {@code striped}). Then dm core passes the
     * original bio's {@link dev.cairn.block.SpliceSink} to the clones, and a file store below may answer by
     * reference to its page cache, the data being read only when the consumer sends it. A target that
     * changes read data ({@code flakey}'s corruption), substitutes it (a snapshot's exceptions) or must know
     * the data is fixed at completion keeps the default, false. Read once at load.
     */
    default boolean passesSpliceReads() {
        return false;
    }

    /** The INFO status parameters (what {@code dmsetup status} prints after the target name). */
    default String statusInfo() {
        return "";
    }

    /**
     * The TABLE status parameters: the constructor arguments in canonical form. Feeding them back to
     * the target type's constructor must give a target with the same TABLE status.
     */
    String statusTable();

    /** Handles {@code dmsetup message}; returns a reply (often empty). The default refuses every message. */
    default String message(String... args) throws DmException {
        throw new DmException("message: " + String.join(" ", args) + " (expected: none; this target takes no messages)");
    }

    /** Receives each device a target uses with the range of it that the target may touch. */
    @FunctionalInterface
    interface DeviceVisitor {
        void visit(DeviceRef device, long startSector, long lengthSectors);
    }

    /**
     * Reports every device this target uses, with the range it maps to (Linux
     * {@code iterate_devices}). dm core uses it for dependencies and holders, to check that each range
     * fits inside its device, to stack queue limits and to check flush support. The default reports none.
     */
    default void iterateDevices(DeviceVisitor visitor) {
    }

    /** Adjusts the limits dm core stacked from {@link #iterateDevices} (Linux {@code io_hints}). Read at load. */
    default QueueLimits ioHints(QueueLimits limits) {
        return limits;
    }

    /**
     * Describes the allocation state of {@code [sector, sector + sectors)} (mapped-device sectors, inside
     * this target) to {@code sink}, with the contract of {@link dev.cairn.block.BlockDevice#queryExtents}:
     * ascending extents covering a prefix of at least one sector. A remapping target asks its lower
     * device; the default answers "allocated data", which is always correct.
     */
    default void queryExtents(long sector, long sectors, Extents.Sink sink) {
        sink.extent(sectors, 0);
    }

    /** Before I/O is blocked for a suspend: release anything the target holds back (delay queues). */
    default void presuspend() {
    }

    /** After a suspend has drained all I/O. */
    default void postsuspend() {
    }

    /** Before this target's table goes live in a resume; an exception aborts the resume. */
    default void preresume() throws DmException {
    }

    /** After this target's table went live and I/O is unblocked. */
    default void resume() {
    }

    /** The table is destroyed: stop threads and free resources (dm core releases the devices). */
    default void close() {
    }
}
