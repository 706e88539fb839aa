package dev.cairn.block.store;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.block.store.FileCapabilities.Capability;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The system calls of one {@link FileStore} and their errno mapping: a whole bio's work on a pool thread
 * ({@link #perform}: {@code preadv}/{@code pwritev} straight from and to the bio's memory or through a bounce
 * buffer, {@code pwritev2(RWF_DSYNC)}, {@code fdatasync}, {@code fallocate} with its fallbacks), and an inline
 * attempt's single {@code preadv2}/{@code pwritev2(RWF_NOWAIT)} ({@link #nowait}). A refusal by the file system
 * is recorded in the store's {@link FileCapabilities}; errnos become {@link BioStatus}es in {@link #status}.
 *
 * <p>Thread safety: no mutable state of its own but the capabilities (atomic); each call works in the
 * {@link Scratch} of the thread that makes it (a pool thread's, {@link #WORKER_SCRATCH}, or an inline
 * attempt's, taken from the store's slots). The file descriptor stays open while any bio is in flight
 * ({@link FileStore#close} waits for them).
 */
final class FileIo {
    private static final System.Logger LOG = System.getLogger(FileStore.class.getName());
    static final int DIRECT_ALIGN = 4096;
    /** Bounce buffer per worker and zero buffer per store. */
    static final int BOUNCE_BYTES = 1 << 20;
    /** How many copies of the zero buffer one fallback write sends (16 MiB per call). */
    private static final int ZERO_IOVECS = 16;
    static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG;
    /** iovecs of an inline attempt's scratch; a bio in more native pieces goes through its bounce buffer. */
    static final int INLINE_IOVECS = 64;
    /**
     * A thread that is no bio's owner: memory accessible by it is accessible by every thread (heap, global,
     * automatic, shared), which is what the pool threads need. Never started.
     */
    static final Thread ANY_OTHER_THREAD = Thread.ofPlatform().unstarted(() -> {});
    /** A pool thread's scratch, whatever stores it works for; freed (automatic arena) when the thread ends. */
    static final ThreadLocal<Scratch> WORKER_SCRATCH =
            ThreadLocal.withInitial(() -> new Scratch(Arena.ofAuto(), Posix.IOV_MAX, BOUNCE_BYTES));

    private final int fd;
    private final String name;
    private final FileStoreConfig config;
    private final QueueLimits limits;
    private final long capacitySectors;
    private final FileCapabilities caps;
    /** {@link #BOUNCE_BYTES} of zeros, for {@link #writeZeros}; owned by the store's arena. */
    private final MemorySegment zeros;

    FileIo(int fd, String name, FileStoreConfig config, QueueLimits limits, long capacitySectors,
            FileCapabilities caps, MemorySegment zeros) {
        this.fd = fd;
        this.name = name;
        this.config = config;
        this.limits = limits;
        this.capacitySectors = capacitySectors;
        this.caps = caps;
        this.zeros = zeros;
    }

    /**
     * Native memory for the system calls of one thread at a time: a pool thread's (made on its first bio), or
     * an inline attempt's (taken from the store's slots). The bounce buffer is made on first use: bios in
     * native memory never need it.
     */
    static final class Scratch {
        final Arena arena;
        final MemorySegment errno;
        final MemorySegment iov;
        final int bounceBytes;
        final InlineFiller filler;
        private MemorySegment bounce;

        Scratch(Arena arena, int iovecs, int bounceBytes) {
            this.arena = arena;
            this.errno = Posix.newErrnoState(arena);
            this.iov = arena.allocate(iovecs * Posix.IOVEC_BYTES, 8);
            this.bounceBytes = bounceBytes;
            this.filler = iovecs == INLINE_IOVECS ? new InlineFiller(this) : null;
        }

        MemorySegment bounce() {
            if (bounce == null) {
                bounce = arena.allocate(bounceBytes, DIRECT_ALIGN);
            }
            return bounce;
        }
    }

    /**
     * Collects a bio's pieces into an inline scratch's iovecs; notes memory another thread may not touch
     * ({@code foreign}) and whether the bounce buffer is needed (heap memory, or more than
     * {@link #INLINE_IOVECS} pieces).
     */
    static final class InlineFiller implements Bio.SegmentVisitor {
        final Scratch s;
        int count;
        boolean bounce;
        boolean foreign;

        InlineFiller(Scratch s) {
            this.s = s;
        }

        InlineFiller reset() {
            count = 0;
            bounce = false;
            foreign = false;
            return this;
        }

        @Override
        public void visit(MemorySegment segment, long segmentOffsetBytes, long lengthBytes, long bioOffsetBytes) {
            if (!segment.isAccessibleBy(ANY_OTHER_THREAD) || !segment.scope().isAlive()) {
                foreign = true;
            } else if (!segment.isNative() || count == INLINE_IOVECS) {
                bounce = true;
            } else if (!bounce) {
                s.iov.set(WORD, count * Posix.IOVEC_BYTES, segment.address() + segmentOffsetBytes);
                s.iov.set(WORD, count * Posix.IOVEC_BYTES + 8, lengthBytes);
                count++;
            }
        }
    }

    // ---------------------------------------------------------------- an inline attempt

    /** One {@code preadv2}/{@code pwritev2(RWF_NOWAIT)} of the whole bio; the bytes transferred, 0 when refused. */
    int nowait(Bio bio, Scratch s) {
        boolean write = bio.op() == BioOp.WRITE;
        int lengthBytes = bio.sizeBytes();
        InlineFiller f = s.filler.reset();
        try {
            bio.forEachSegment(f);
        } catch (IOException e) {
            throw new AssertionError("the filler throws none", e);
        }
        if (f.foreign) {
            return 0;
        }
        int count = f.count;
        MemorySegment bounce = null;
        if (f.bounce) {
            bounce = s.bounce();
            if (write) {
                bio.copyTo(0, bounce, 0, lengthBytes);
            }
            s.iov.set(WORD, 0, bounce.address());
            s.iov.set(WORD, 8, lengthBytes);
            count = 1;
        }
        long offsetBytes = Sectors.toBytes(bio.sector());
        long n = write ? Posix.pwritev2(s.errno, fd, s.iov, count, offsetBytes, Posix.RWF_NOWAIT)
                : Posix.preadv2(s.errno, fd, s.iov, count, offsetBytes, Posix.RWF_NOWAIT);
        if (n < 0) {
            int e = Posix.errno(s.errno);
            if (isRefusal(e) && caps.refuse(write ? Capability.NOWAIT_WRITE : Capability.NOWAIT_READ)) {
                LOG.log(System.Logger.Level.DEBUG, () -> name + ": the file system refuses RWF_NOWAIT "
                        + (write ? "writes" : "reads") + " (" + Posix.errnoName(e) + "); they all go to the pool");
            }
            return 0; // EAGAIN (not cached, would block), EINTR, or an error the pool thread will meet and report
        }
        if (!write && bounce != null && n > 0) {
            bio.copyFrom(bounce, 0, 0, n);
        }
        return (int) n; // 0 at end of file: the pool thread reports the shrunken file
    }

    // ---------------------------------------------------------------- on a pool thread

    /**
     * Runs {@code bio}'s system calls on a pool thread; the status to complete it with. {@code skipBytes} (of a
     * plain READ or WRITE) were already transferred by an inline attempt.
     */
    BioStatus perform(Bio bio, Scratch s, int skipBytes) {
        BioOp op = bio.op();
        long offsetBytes = Sectors.toBytes(bio.sector());
        int lengthBytes = bio.sizeBytes();
        if (op == BioOp.FLUSH) {
            return status(sync(s), bio);
        }
        int blockMask = limits.logicalBlockBytes() - 1;
        if ((offsetBytes & blockMask) != 0 || (lengthBytes & blockMask) != 0 || bio.endSector() > capacitySectors
                || (op.hasData() && !bio.hasData())) {
            return BioStatus.INVALID;
        }
        if (op.isWrite() && config.readOnly()) {
            return BioStatus.PERM;
        }
        int e = 0;
        boolean fua = bio.hasFlag(BioFlags.FUA) && op.isWrite();
        if (bio.hasFlag(BioFlags.PREFLUSH)) {
            e = sync(s);
        }
        if (e == 0) {
            switch (op) {
                case READ -> e = transferBio(bio, s, false, false, skipBytes);
                case WRITE -> {
                    e = transferBio(bio, s, true, fua && caps.allows(Capability.DSYNC), skipBytes);
                    fua &= !caps.allows(Capability.DSYNC); // written with RWF_DSYNC unless that was (or just got) refused
                }
                case DISCARD -> e = zero(s, offsetBytes, lengthBytes, true, false);
                case WRITE_ZEROES -> e = zero(s, offsetBytes, lengthBytes, !bio.hasFlag(BioFlags.NOUNMAP),
                        bio.hasFlag(BioFlags.FAST_ZERO));
                case FLUSH -> throw new AssertionError("handled above");
            }
        }
        if (e == 0 && fua) {
            e = sync(s);
        }
        return status(e, bio);
    }

    private BioStatus status(int errno, Bio bio) {
        if (errno == 0) {
            return BioStatus.OK;
        }
        BioStatus status = switch (errno) {
            case Posix.EIO -> BioStatus.IOERR;
            case Posix.ENOSPC, Posix.EDQUOT, Posix.EFBIG -> BioStatus.NOSPC;
            case Posix.EROFS, Posix.EPERM, Posix.EACCES, Posix.EBADF -> BioStatus.PERM;
            case Posix.EOPNOTSUPP -> BioStatus.NOTSUPP;
            default -> BioStatus.IOERR;
        };
        if (!(errno == Posix.EOPNOTSUPP && bio.hasFlag(BioFlags.FAST_ZERO))) {
            LOG.log(System.Logger.Level.WARNING, () -> name + ": " + bio + " failed with " + Posix.errnoName(errno)
                    + " -> " + status);
        }
        return status;
    }

    /** READ or WRITE of the bio from byte {@code skipBytes} on; returns 0 or an errno. */
    private int transferBio(Bio bio, Scratch s, boolean write, boolean dsync, int skipBytes) {
        long offsetBytes = Sectors.toBytes(bio.sector());
        int length = bio.sizeBytes();
        if (isZeroCopy(bio)) {
            IovecFiller filler = new IovecFiller(this, s, write, dsync, offsetBytes + skipBytes);
            try {
                bio.forRange(skipBytes, length - skipBytes, filler);
            } catch (IOException e) {
                throw new AssertionError("the filler throws none", e);
            }
            return filler.errno != 0 ? filler.errno : filler.finish();
        }
        MemorySegment bounce = s.bounce();
        for (int done = skipBytes; done < length; ) {
            int n = Math.min(BOUNCE_BYTES, length - done);
            if (write) {
                bio.copyTo(done, bounce, 0, n);
            }
            s.iov.set(WORD, 0, bounce.address());
            s.iov.set(WORD, 8, n);
            int e = transfer(s, write, dsync, offsetBytes + done, 1, n);
            if (e != 0) {
                return e;
            }
            if (!write) {
                bio.copyFrom(bounce, 0, done, n);
            }
            done += n;
        }
        return 0;
    }

    /**
     * True when the kernel can use the bio's memory directly: all native, and aligned for O_DIRECT. Throws when
     * this worker may not touch the memory (a confined or closed arena): the kernel would be handed a bare
     * address that the FFM checks never see.
     */
    private boolean isZeroCopy(Bio bio) {
        boolean[] ok = {true};
        Thread worker = Thread.currentThread();
        try {
            bio.forEachSegment((segment, segmentOffsetBytes, lengthBytes, bioOffsetBytes) -> {
                if (!segment.isAccessibleBy(worker) || !segment.scope().isAlive()) {
                    throw new IllegalStateException("bio memory " + segment + " (expected: accessible from the store's "
                            + "threads: heap, or a global, automatic or shared arena that stays open until completion)");
                }
                if (!segment.isNative() || (config.direct()
                        && (((segment.address() + segmentOffsetBytes) | lengthBytes) & (DIRECT_ALIGN - 1)) != 0)) {
                    ok[0] = false;
                }
            });
        } catch (IOException e) {
            throw new AssertionError("the visitor throws none", e);
        }
        return ok[0];
    }

    /** Collects a bio's pieces into the worker's iovec array, issuing a call each time it is full. */
    private static final class IovecFiller implements Bio.SegmentVisitor {
        final FileIo io;
        final Scratch s;
        final boolean write;
        final boolean dsync;
        long fileOffsetBytes;
        int count;
        long batchBytes;
        int errno;

        IovecFiller(FileIo io, Scratch s, boolean write, boolean dsync, long fileOffsetBytes) {
            this.io = io;
            this.s = s;
            this.write = write;
            this.dsync = dsync;
            this.fileOffsetBytes = fileOffsetBytes;
        }

        @Override
        public void visit(MemorySegment segment, long segmentOffsetBytes, long lengthBytes, long bioOffsetBytes) {
            if (errno != 0) {
                return;
            }
            if (count == Posix.IOV_MAX) {
                errno = finish();
                if (errno != 0) {
                    return;
                }
            }
            s.iov.set(WORD, count * Posix.IOVEC_BYTES, segment.address() + segmentOffsetBytes);
            s.iov.set(WORD, count * Posix.IOVEC_BYTES + 8, lengthBytes);
            count++;
            batchBytes += lengthBytes;
        }

        /** Issues the pending batch; returns 0 or an errno. */
        int finish() {
            if (count == 0) {
                return 0;
            }
            int e = io.transfer(s, write, dsync, fileOffsetBytes, count, batchBytes);
            fileOffsetBytes += batchBytes;
            count = 0;
            batchBytes = 0;
            return e;
        }
    }

    /**
     * One {@code preadv}/{@code pwritev(2)} of {@code count} iovecs ({@code totalBytes}) at {@code fileOffsetBytes},
     * resumed after short transfers and EINTR/EAGAIN; returns 0 or an errno. The iovec array is consumed.
     */
    private int transfer(Scratch s, boolean write, boolean dsync, long fileOffsetBytes, int count, long totalBytes) {
        long done = 0;
        int first = 0;
        while (done < totalBytes) {
            MemorySegment iov = s.iov.asSlice(first * Posix.IOVEC_BYTES);
            long n;
            if (!write) {
                n = Posix.preadv(s.errno, fd, iov, count - first, fileOffsetBytes + done);
            } else if (dsync && caps.allows(Capability.DSYNC)) {
                n = Posix.pwritev2(s.errno, fd, iov, count - first, fileOffsetBytes + done, Posix.RWF_DSYNC);
                if (n < 0 && isRefusal(Posix.errno(s.errno))) {
                    caps.refuse(Capability.DSYNC); // the caller sees the flag and syncs after the write instead
                    continue;
                }
            } else {
                n = Posix.pwritev(s.errno, fd, iov, count - first, fileOffsetBytes + done);
            }
            if (n < 0) {
                int e = Posix.errno(s.errno);
                if (e == Posix.EINTR || e == Posix.EAGAIN) {
                    continue;
                }
                return e;
            }
            if (n == 0) {
                return Posix.EIO; // end of file inside the capacity: the file shrank under us
            }
            done += n;
            while (n > 0) {
                long at = first * Posix.IOVEC_BYTES;
                long len = s.iov.get(WORD, at + 8);
                if (n >= len) {
                    n -= len;
                    first++;
                } else {
                    s.iov.set(WORD, at, s.iov.get(WORD, at) + n);
                    s.iov.set(WORD, at + 8, len - n);
                    n = 0;
                }
            }
        }
        return 0;
    }

    static boolean isRefusal(int errno) {
        return errno == Posix.EOPNOTSUPP || errno == Posix.ENOSYS;
    }

    /** fdatasync, retried on EINTR; 0 or an errno. */
    private int sync(Scratch s) {
        while (Posix.fdatasync(s.errno, fd) < 0) {
            int e = Posix.errno(s.errno);
            if (e != Posix.EINTR) {
                return e;
            }
        }
        return 0;
    }

    /**
     * Makes {@code [offsetBytes, +lengthBytes)} read as zeros: punch a hole when {@code unmap}, else zero the
     * range in place; where the file system refuses, write zeros (or, with {@code fastOnly}, fail with
     * EOPNOTSUPP). Returns 0 or an errno.
     */
    private int zero(Scratch s, long offsetBytes, long lengthBytes, boolean unmap, boolean fastOnly) {
        if (unmap && caps.allows(Capability.PUNCH_HOLE)) {
            int e = fallocate(s, Posix.FALLOC_FL_PUNCH_HOLE | Posix.FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes);
            if (!isRefusal(e)) {
                return e;
            }
            caps.refuse(Capability.PUNCH_HOLE);
        }
        if (caps.allows(Capability.ZERO_RANGE)) {
            int e = fallocate(s, Posix.FALLOC_FL_ZERO_RANGE | Posix.FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes);
            if (!isRefusal(e)) {
                return e;
            }
            caps.refuse(Capability.ZERO_RANGE);
        }
        if (fastOnly) {
            return Posix.EOPNOTSUPP;
        }
        return writeZeros(s, offsetBytes, lengthBytes);
    }

    private int fallocate(Scratch s, int mode, long offsetBytes, long lengthBytes) {
        while (Posix.fallocate(s.errno, fd, mode, offsetBytes, lengthBytes) < 0) {
            int e = Posix.errno(s.errno);
            if (e != Posix.EINTR) {
                return e;
            }
        }
        return 0;
    }

    /** The fallback of {@link #zero}: writes from the shared zero buffer, 16 MiB per call. */
    int writeZeros(Scratch s, long offsetBytes, long lengthBytes) {
        for (long done = 0; done < lengthBytes; ) {
            int count = 0;
            long batch = 0;
            while (count < ZERO_IOVECS && done + batch < lengthBytes) {
                long n = Math.min(BOUNCE_BYTES, lengthBytes - done - batch);
                s.iov.set(WORD, count * Posix.IOVEC_BYTES, zeros.address());
                s.iov.set(WORD, count * Posix.IOVEC_BYTES + 8, n);
                count++;
                batch += n;
            }
            int e = transfer(s, true, false, offsetBytes + done, count, batch);
            if (e != 0) {
                return e;
            }
            done += batch;
        }
        return 0;
    }
}
