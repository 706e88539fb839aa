package dev.cairn.block;

/**
 * A block device: something bios can be submitted to. Leaf stores, mapped (dm) devices and
 * test devices all implement it; the NBD server serves any of them.
 *
 * <p>{@link #submitBio} is the device's {@code make_request}: it is called only by the
 * {@link Submitter} dispatch loop, never directly. It must take ownership
 * of the bio and do exactly one of: remap and resubmit it through the submitter, split or clone
 * it and submit the pieces, complete it, or keep it and complete or resubmit it later from
 * another thread. It must not wait for a bio it submitted itself on this thread (that bio is only
 * parked on this thread's list until {@code submitBio} returns).
 *
 * <p>The submitter checks the range, the read-only flag and operation support before calling
 * {@code submitBio}, so a device sees only bios that fit inside it and that its
 * {@link #limits()} allow.
 *
 * <p>Thread safety: implementations must accept concurrent {@code submitBio} calls.
 */
public interface BlockDevice {
    /** A short name for messages and watchdog reports. */
    String name();

    /** Size in 512-byte sectors. May change only while no I/O is in flight (a resume of a dm device). */
    long capacitySectors();

    /** What this device accepts and supports. */
    QueueLimits limits();

    /** Takes ownership of {@code bio}; see the class comment. */
    void submitBio(Bio bio);

    /**
     * Describes the allocation state of {@code [sector, sector + sectors)} to {@code sink} in ascending
     * order. The extents must cover a prefix of the range (at least one sector when {@code sectors > 0})
     * and may stop early. The default answers "allocated data", which is always correct.
     */
    default void queryExtents(long sector, long sectors, Extents.Sink sink) {
        sink.extent(sectors, 0);
    }
}
