package dev.cairn.rbd;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * An RBD image as a {@link BlockDevice} (the {@code rbd:} leaf), through librbd's asynchronous API.
 *
 * <p><b>I/O.</b> Each bio becomes one {@code rbd_aio_*} call with a completion made without a callback:
 * the image is in librbd's event-notification mode ({@code rbd_set_image_notification} with an eventfd),
 * so librbd only bumps the eventfd's counter when an operation completes, and this device's own poller
 * thread ({@code rbd-poller rbd:POOL/IMAGE}), blocked in {@code read(2)} on the eventfd, fetches every
 * finished completion with {@code rbd_poll_io_events} in batches of {@value #POLL_BATCH} and completes the
 * bios. No Java code runs on librbd's threads (no upcall), a completion crosses one thread boundary (librbd's
 * thread to the poller) where a callback handing results to a completer thread crossed two, and a burst of
 * completions costs one wake-up. READ and WRITE pass the bio's memory to librbd when it is
 * one native segment, else go through a bounce buffer. FLUSH is {@code rbd_aio_flush}; PREFLUSH is a flush
 * before the write and FUA a flush after it (librbd's cache may hold writes until a flush). DISCARD is
 * {@code rbd_aio_discard} (a hint below 64 KiB: the range may keep its data, which DISCARD allows);
 * WRITE_ZEROES is {@code rbd_aio_write_zeroes}, thick (allocated zeros) for {@link BioFlags#NOUNMAP}.
 * Extents come from {@code rbd_diff_iterate2} (parent included): unreported ranges are holes of zeros.
 *
 * <p><b>Limits.</b> 512-byte logical blocks, 4 KiB physical, the object size (typically 4 MiB) as the
 * largest single I/O ({@link QueueLimits} has no optimal-I/O field, so the object size is also in
 * {@link #objectBytes()}), 64 KiB discard granularity ({@code rbd_discard_granularity_bytes}), a volatile
 * cache, FUA emulated. Read-only when opened at a snapshot.
 *
 * <p><b>Timeouts.</b> The cluster handle is configured with {@code rados_osd_op_timeout}: an operation
 * the cluster does not answer within the spec's timeout fails (ETIMEDOUT, IOERR here) instead of hanging;
 * librbd keeps its buffers until the completion fires, so a bio is never completed before librbd is done
 * with its memory. Later I/O works again once the cluster answers.
 *
 * <p>Thread safety: {@link #submitBio} and {@link #queryExtents} may be called from any thread (librbd
 * image handles are thread-safe); in-flight operations live in a concurrent map keyed by the id passed as
 * the completion argument, and only the poller completes them. {@link #close} waits for the poller to
 * complete everything in flight, then closes the image.
 */
public final class RbdDevice implements BlockDevice, AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RbdDevice.class.getName());
    /** Most completions fetched by one {@code rbd_poll_io_events}. */
    static final int POLL_BATCH = 64;
    private static final ConcurrentHashMap<Long, Op> PENDING = new ConcurrentHashMap<>();
    private static final AtomicLong NEXT_ID = new AtomicLong(1);

    private final RbdSpec spec;
    private final String name;
    private final RadosCluster cluster;
    private final MemorySegment image;
    private final long sizeBytes;
    private final long objectBytes;
    private final QueueLimits limits;
    private final AtomicLong inFlight = new AtomicLong();
    private final int eventFd;
    private final Thread poller;
    private volatile boolean closed;

    /** One asynchronous call in flight: what to do with its return value. */
    private record Op(RbdDevice device, LongConsumer done) {}

    private RbdDevice(RbdSpec spec, RadosCluster cluster, MemorySegment image, long sizeBytes, long objectBytes,
            int eventFd) {
        this.spec = spec;
        this.eventFd = eventFd;
        this.name = "rbd:" + spec.imageSpec();
        this.cluster = cluster;
        this.image = image;
        this.sizeBytes = sizeBytes;
        this.objectBytes = objectBytes;
        long maxSectors = Math.max(8, objectBytes >>> Sectors.SECTOR_SHIFT);
        // The object is librbd's unit of placement and of parallelism: whole aligned objects are the best I/O.
        int optimalIoBytes = objectBytes <= Integer.MAX_VALUE && objectBytes % 4096 == 0 ? (int) objectBytes : 0;
        this.limits = new QueueLimits(512, 4096, maxSectors, 65536, 1L << 21, 1L << 21, true, false,
                spec.snapshot() != null, optimalIoBytes);
        this.poller = Thread.ofPlatform().daemon().name("rbd-poller " + name).unstarted(this::pollLoop);
    }

    /** Opens the image {@code spec} names (read-only at a snapshot). */
    public static RbdDevice open(RbdSpec spec) throws IOException {
        RadosCluster cluster = RadosCluster.acquire(spec);
        MemorySegment ioctx;
        try {
            ioctx = cluster.pool(spec.pool());
        } catch (IOException e) {
            cluster.release();
            throw e;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment snap = spec.snapshot() == null ? MemorySegment.NULL : arena.allocateFrom(spec.snapshot());
            MethodHandle open = spec.snapshot() == null ? Librbd.RBD_OPEN : Librbd.RBD_OPEN_READ_ONLY;
            Librbd.check((int) open.invokeExact(ioctx, arena.allocateFrom(spec.image()), out, snap), "opening image " + spec.imageSpec());
            MemorySegment img = out.get(ValueLayout.ADDRESS, 0);
            MemorySegment info = arena.allocate(Librbd.IMAGE_INFO_BYTES, 8);
            int rc = (int) Librbd.RBD_STAT.invokeExact(img, info, (long) Librbd.IMAGE_INFO_BYTES);
            if (rc < 0) {
                int ignored = (int) Librbd.RBD_CLOSE.invokeExact(img);
                Librbd.check(rc, "rbd_stat " + spec.imageSpec());
            }
            long size = info.get(ValueLayout.JAVA_LONG, 0);
            long obj = info.get(ValueLayout.JAVA_LONG, 8);
            int efd = (int) Librbd.EVENTFD.invokeExact(0, Librbd.EFD_CLOEXEC);
            rc = efd < 0 ? -24 : (int) Librbd.RBD_SET_IMAGE_NOTIFICATION.invokeExact(img, efd, Librbd.EVENT_TYPE_EVENTFD);
            if (rc < 0) {
                if (efd >= 0) {
                    int ignored = (int) Librbd.CLOSE.invokeExact(efd);
                }
                int ignored = (int) Librbd.RBD_CLOSE.invokeExact(img);
                Librbd.check(rc, efd < 0 ? "eventfd for " + spec.imageSpec() : "rbd_set_image_notification " + spec.imageSpec());
            }
            RbdDevice d = new RbdDevice(spec, cluster, img, size, obj, efd);
            d.poller.start();
            return d;
        } catch (IOException | RuntimeException | Error e) {
            cluster.releasePool(spec.pool());
            cluster.release();
            throw e;
        } catch (Throwable t) {
            cluster.releasePool(spec.pool());
            cluster.release();
            throw new IOException("librbd: " + t, t);
        }
    }

    public RbdSpec spec() {
        return spec;
    }

    /** The image's object size: the I/O size that touches one object, what RBD does best. */
    public long objectBytes() {
        return objectBytes;
    }

    /** Operations submitted to librbd and not completed yet. */
    public long inFlight() {
        return inFlight.get();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long capacitySectors() {
        return sizeBytes >>> Sectors.SECTOR_SHIFT;
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    // ---------------------------------------------------------------- I/O

    @Override
    public void submitBio(Bio bio) {
        if (closed) {
            bio.complete(BioStatus.ABORTED);
            return;
        }
        long offsetBytes = Sectors.toBytes(bio.sector());
        switch (bio.op()) {
            case READ -> read(bio, offsetBytes);
            case FLUSH -> flush(ret -> bio.complete(statusOf(ret)));
            case WRITE, DISCARD, WRITE_ZEROES -> {
                boolean fua = bio.hasFlag(BioFlags.FUA);
                Runnable command = () -> writeLike(bio, offsetBytes, ret -> {
                    if (ret < 0 || !fua) {
                        bio.complete(statusOf(ret));
                    } else {
                        flush(r2 -> bio.complete(statusOf(r2)));
                    }
                });
                if (bio.hasFlag(BioFlags.PREFLUSH)) {
                    flush(ret -> {
                        if (ret < 0) {
                            bio.complete(statusOf(ret));
                        } else {
                            command.run();
                        }
                    });
                } else {
                    command.run();
                }
            }
        }
    }

    private void read(Bio bio, long offsetBytes) {
        int len = bio.sizeBytes();
        MemorySegment direct = singleNativeSegment(bio);
        if (direct != null) {
            MemorySegment buf = raw(direct);
            aio("rbd_aio_read", c -> (int) Librbd.RBD_AIO_READ.invokeExact(image, offsetBytes, (long) len, buf, c),
                    ret -> bio.complete(ret == len ? BioStatus.OK : statusOf(ret < 0 ? ret : -5)));
            return;
        }
        Arena arena = Arena.ofShared();
        MemorySegment bounce = arena.allocate(len, 4096);
        MemorySegment bounceRaw = raw(bounce);
        aio("rbd_aio_read", c -> (int) Librbd.RBD_AIO_READ.invokeExact(image, offsetBytes, (long) len, bounceRaw, c), ret -> {
            if (ret == len) {
                bio.copyFrom(bounce, 0, 0, len);
            }
            arena.close();
            bio.complete(ret == len ? BioStatus.OK : statusOf(ret < 0 ? ret : -5));
        });
    }

    private void writeLike(Bio bio, long offsetBytes, LongConsumer done) {
        long len = bio.sizeBytes();
        switch (bio.op()) {
            case WRITE -> {
                MemorySegment direct = singleNativeSegment(bio);
                if (direct != null) {
                    MemorySegment buf = raw(direct);
                    aio("rbd_aio_write", c -> (int) Librbd.RBD_AIO_WRITE.invokeExact(image, offsetBytes, len, buf, c), done);
                } else {
                    Arena arena = Arena.ofShared();
                    MemorySegment bounce = arena.allocate(len, 4096);
                    bio.copyTo(0, bounce, 0, len);
                    MemorySegment bounceRaw = raw(bounce);
                    aio("rbd_aio_write", c -> (int) Librbd.RBD_AIO_WRITE.invokeExact(image, offsetBytes, len, bounceRaw, c), ret -> {
                        arena.close();
                        done.accept(ret);
                    });
                }
            }
            case DISCARD -> aio("rbd_aio_discard", c -> (int) Librbd.RBD_AIO_DISCARD.invokeExact(image, offsetBytes, len, c), done);
            default -> {
                boolean thick = bio.hasFlag(BioFlags.NOUNMAP);
                if (thick && bio.hasFlag(BioFlags.FAST_ZERO)) {
                    done.accept(-95); // writing allocated zeros is not faster than writing data
                    return;
                }
                int zeroFlags = thick ? Librbd.RBD_WRITE_ZEROES_FLAG_THICK_PROVISION : 0;
                aio("rbd_aio_write_zeroes", c -> (int) Librbd.RBD_AIO_WRITE_ZEROES.invokeExact(image, offsetBytes, len, c,
                        zeroFlags, 0), done);
            }
        }
    }

    private void flush(LongConsumer done) {
        aio("rbd_aio_flush", c -> (int) Librbd.RBD_AIO_FLUSH.invokeExact(image, c), done);
    }

    @FunctionalInterface
    private interface Call {
        int submit(MemorySegment completion) throws Throwable;
    }

    /** Creates a completion tagged with a fresh id, submits, and on a submit error completes at once. */
    private void aio(String what, Call call, LongConsumer done) {
        long id = NEXT_ID.getAndIncrement();
        inFlight.incrementAndGet();
        PENDING.put(id, new Op(this, done));
        // happens-before: close() sets closed, then the poller stops once inFlight is 0; counting first and
        // checking closed second means an operation the poller would not see is refused here instead.
        if (closed) {
            if (PENDING.remove(id) != null) {
                inFlight.decrementAndGet();
                done.accept(-108); // ESHUTDOWN
            }
            return;
        }
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            rc = (int) Librbd.RBD_AIO_CREATE_COMPLETION.invokeExact(MemorySegment.ofAddress(id), MemorySegment.NULL, out);
            if (rc == 0) {
                MemorySegment c = out.get(ValueLayout.ADDRESS, 0);
                rc = call.submit(c);
                if (rc < 0) {
                    Librbd.RBD_AIO_RELEASE.invokeExact(c);
                }
            }
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.ERROR, name + ": " + what + " failed to submit", t);
            rc = -5;
        }
        if (rc < 0 && PENDING.remove(id) != null) {
            inFlight.decrementAndGet();
            done.accept(rc); // a bounce buffer's consumer closes its arena
        }
    }

    /**
     * The poller: waits on the eventfd, then takes every finished completion librbd has queued for the image
     * and completes its bio, until {@link #close} asked it to stop and nothing is in flight.
     */
    private void pollLoop() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment counter = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment completions = arena.allocate(ValueLayout.ADDRESS, POLL_BATCH);
            while (!(closed && inFlight.get() == 0)) {
                long n = (long) Librbd.READ.invokeExact(eventFd, counter, 8L);
                if (n < 0) {
                    // EINTR (a signal): nothing was read; poll anyway, then wait again
                    LOG.log(System.Logger.Level.DEBUG, name + ": read(eventfd) returned " + n);
                }
                int got;
                do {
                    got = (int) Librbd.RBD_POLL_IO_EVENTS.invokeExact(image, completions, POLL_BATCH);
                    for (int i = 0; i < got; i++) {
                        MemorySegment c = completions.getAtIndex(ValueLayout.ADDRESS, i);
                        long id = ((MemorySegment) Librbd.RBD_AIO_GET_ARG.invokeExact(c)).address();
                        long ret = (long) Librbd.RBD_AIO_GET_RETURN_VALUE.invokeExact(c);
                        Librbd.RBD_AIO_RELEASE.invokeExact(c);
                        complete(id, ret);
                    }
                } while (got == POLL_BATCH);
                if (got < 0) {
                    LOG.log(System.Logger.Level.ERROR, name + ": rbd_poll_io_events: " + Librbd.errnoName(-got));
                }
            }
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.ERROR, name + ": the rbd poller failed; I/O in flight will not complete", t);
        }
    }

    private void complete(long id, long ret) {
        Op op = PENDING.remove(id);
        if (op == null) {
            return;
        }
        inFlight.decrementAndGet();
        try {
            op.done.accept(ret);
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, name + ": completing an I/O failed", e);
        }
    }

    /**
     * The buffer's address with no arena attached. Passing an arena's segment to a downcall holds that
     * arena open for the call, and librbd may complete the I/O (and the poller close the bounce
     * arena) before {@code rbd_aio_*} returns; the memory itself stays valid until the completion.
     */
    private static MemorySegment raw(MemorySegment buffer) {
        return MemorySegment.ofAddress(buffer.address());
    }

    private static MemorySegment singleNativeSegment(Bio bio) {
        List<MemorySegment> pieces = new ArrayList<>(2);
        try {
            bio.forEachSegment((seg, segOff, len, bioOff) -> pieces.add(seg.asSlice(segOff, len)));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return pieces.size() == 1 && pieces.getFirst().isNative() ? pieces.getFirst() : null;
    }

    static BioStatus statusOf(long ret) {
        if (ret >= 0) {
            return BioStatus.OK;
        }
        return switch ((int) -ret) {
            case 1, 30 -> BioStatus.PERM;
            case 12 -> BioStatus.NOMEM;
            case 22 -> BioStatus.INVALID;
            case 28, 122 -> BioStatus.NOSPC;
            case 95 -> BioStatus.NOTSUPP;
            default -> BioStatus.IOERR;
        };
    }

    // ---------------------------------------------------------------- extents

    /**
     * Allocated ranges from {@code rbd_diff_iterate2} (since creation, parent included); ranges it does not
     * report read as zeros. On an error the answer is "allocated data" (always correct).
     */
    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        if (sectors <= 0) {
            return;
        }
        long startBytes = Sectors.toBytes(sector);
        long lengthBytes = Sectors.toBytes(sectors);
        List<long[]> data = new ArrayList<>();
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            MethodHandle cb = MethodHandles.lookup().findStatic(RbdDevice.class, "onDiff",
                    MethodType.methodType(int.class, List.class, long.class, long.class, int.class, MemorySegment.class)).bindTo(data);
            MemorySegment stub = Librbd.linker().upcallStub(cb, Librbd.DIFF_CALLBACK, arena);
            rc = (int) Librbd.RBD_DIFF_ITERATE2.invokeExact(image, MemorySegment.NULL, startBytes, lengthBytes, (byte) 1, (byte) 0,
                    stub, MemorySegment.NULL);
        } catch (Throwable t) {
            rc = -5;
        }
        if (rc < 0) {
            sink.extent(sectors, 0);
            return;
        }
        long pos = startBytes;
        long end = startBytes + lengthBytes;
        for (long[] e : data) {
            long from = Math.max(pos, e[0] & ~511L);
            long to = Math.min(end, (e[0] + e[1] + 511) & ~511L);
            if (to <= from) {
                continue;
            }
            if (from > pos && !sink.extent((from - pos) >>> Sectors.SECTOR_SHIFT, Extents.HOLE | Extents.ZERO)) {
                return;
            }
            if (!sink.extent((to - from) >>> Sectors.SECTOR_SHIFT, 0)) {
                return;
            }
            pos = to;
        }
        if (pos < end) {
            sink.extent((end - pos) >>> Sectors.SECTOR_SHIFT, Extents.HOLE | Extents.ZERO);
        }
    }

    private static int onDiff(List<long[]> out, long offsetBytes, long lengthBytes, int exists, MemorySegment arg) {
        if (exists != 0) {
            out.add(new long[] {offsetBytes, lengthBytes});
        }
        return 0;
    }

    /**
     * Waits for the I/O in flight to complete (the poller completes it, then stops), closes the image (librbd
     * flushes its cache first) and its eventfd, and drops the cluster reference.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        wakePoller();
        try {
            poller.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.log(System.Logger.Level.WARNING, name + ": interrupted while waiting for I/O in flight; closing anyway");
        }
        try {
            int rc = (int) Librbd.RBD_CLOSE.invokeExact(image);
            if (rc < 0) {
                LOG.log(System.Logger.Level.WARNING, name + ": rbd_close: " + Librbd.errnoName(-rc));
            }
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.WARNING, name + ": rbd_close failed", t);
        }
        try {
            int ignored = (int) Librbd.CLOSE.invokeExact(eventFd);
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.WARNING, name + ": closing the eventfd failed", t);
        }
        cluster.releasePool(spec.pool());
        cluster.release();
    }

    /** Adds 1 to the eventfd, so a poller blocked in read(2) looks at {@link #closed} again. */
    private void wakePoller() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(ValueLayout.JAVA_LONG);
            one.set(ValueLayout.JAVA_LONG, 0, 1L);
            long ignored = (long) Librbd.WRITE.invokeExact(eventFd, one, 8L);
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.WARNING, name + ": waking the rbd poller failed", t);
        }
    }

    @Override
    public String toString() {
        return "RbdDevice[" + name + ", " + sizeBytes + " bytes, objects of " + objectBytes + "]";
    }
}
