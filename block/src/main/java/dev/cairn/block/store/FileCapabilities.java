package dev.cairn.block.store;

import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the file system (and kernel) under one {@link FileStore} allows, learnt as the store goes: each
 * capability starts allowed where the kernel has the system call, and is refused for good the first time the
 * file system answers {@code EOPNOTSUPP}/{@code ENOSYS} (or, for splice reads, {@code cachestat} or the
 * reopen fails). A refused capability is not asked for again; the store takes its fallback (the pool,
 * {@code fdatasync} after the write, writing zeros, a copy).
 *
 * <p>Thread safety: one atomic bit set; refusals are monotonic, so a reader that saw "allowed" a moment late
 * at worst makes one more call that is refused and falls back.
 */
final class FileCapabilities {
    /** The optional ways a file store uses the file. */
    enum Capability {
        /** {@code fallocate(FALLOC_FL_PUNCH_HOLE)} for DISCARD and WRITE_ZEROES. */
        PUNCH_HOLE,
        /** {@code fallocate(FALLOC_FL_ZERO_RANGE)} for WRITE_ZEROES with NOUNMAP (and where punching is refused). */
        ZERO_RANGE,
        /** {@code pwritev2(RWF_DSYNC)} for FUA writes. */
        DSYNC,
        /** {@code preadv2(RWF_NOWAIT)}: inline reads on the submitting thread. */
        NOWAIT_READ,
        /** {@code pwritev2(RWF_NOWAIT)}: inline writes on the submitting thread. */
        NOWAIT_WRITE,
        /** {@code cachestat} and a second descriptor: READs answered by reference to the page cache. */
        SPLICE
    }

    private final AtomicInteger refused = new AtomicInteger();

    /** All allowed, but those whose system call the running kernel (or C library) does not have. */
    static FileCapabilities probe() {
        FileCapabilities c = new FileCapabilities();
        if (!Posix.hasFallocate()) {
            c.refuse(Capability.PUNCH_HOLE);
            c.refuse(Capability.ZERO_RANGE);
        }
        if (!Posix.hasPwritev2()) {
            c.refuse(Capability.DSYNC);
            c.refuse(Capability.NOWAIT_WRITE);
        }
        if (!Posix.hasPreadv2()) {
            c.refuse(Capability.NOWAIT_READ);
        }
        return c;
    }

    boolean allows(Capability c) {
        return (refused.get() & bit(c)) == 0;
    }

    /** Marks {@code c} refused for good; true for the call that refused it first (which logs it). */
    boolean refuse(Capability c) {
        int b = bit(c);
        return (refused.getAndUpdate(r -> r | b) & b) == 0;
    }

    /** The capabilities refused so far. */
    Set<Capability> refusedNow() {
        Set<Capability> out = EnumSet.noneOf(Capability.class);
        for (Capability c : Capability.values()) {
            if (!allows(c)) {
                out.add(c);
            }
        }
        return out;
    }

    // The ordinal is only a bit position in this object's own set, never stored or compared across versions.
    @SuppressWarnings("EnumOrdinal")
    private static int bit(Capability c) {
        return 1 << c.ordinal();
    }

    @Override
    public String toString() {
        return "refused " + refusedNow();
    }
}
