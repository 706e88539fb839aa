package dev.cairn.nbd.server;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.ForwardingDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * A MemoryStore with knobs for tests: its own limits, counters per operation, bios that can be held back
 * (to force out-of-order replies and in-flight states) and injected errors.
 *
 * <p>Thread safety: safe from any thread. Holding and releasing share one lock, so a bio that
 * {@link #heldCount()} reports is always in the queue {@link #releaseHeld()} drains (counting it first and
 * queueing it after let a release in between miss it: {@code TestDeviceTest}).
 */
class TestDevice extends ForwardingDevice {
    private final QueueLimits limits;
    final AtomicInteger reads = new AtomicInteger();
    final AtomicInteger writes = new AtomicInteger();
    final AtomicInteger fuaBios = new AtomicInteger();
    final AtomicInteger flushes = new AtomicInteger();
    final AtomicInteger discards = new AtomicInteger();
    final AtomicInteger writeZeroes = new AtomicInteger();
    final AtomicInteger noUnmap = new AtomicInteger();
    final AtomicInteger fastZero = new AtomicInteger();
    final AtomicInteger extentQueries = new AtomicInteger();
    private final Object holdLock = new Object();
    /** Guarded by holdLock. */
    private final List<Bio> held = new ArrayList<>();
    final AtomicInteger maxHeld = new AtomicInteger();
    private volatile Predicate<Bio> holdIf = b -> false;
    private volatile Predicate<Bio> failIf = b -> false;
    private volatile BioStatus failWith = BioStatus.IOERR;
    private volatile boolean throwOnExtents;
    /** Runs first for every submitted bio, on the submitting thread. */
    volatile java.util.function.Consumer<Bio> onSubmit = b -> {};
    /** Runs on the submitting thread once a bio is counted as held (widens the window in TestDeviceTest). */
    volatile java.util.function.Consumer<Bio> onHold = b -> {};

    TestDevice(String name, long capacityBytes, QueueLimits limits) {
        super(new MemoryStore(name, capacityBytes));
        this.limits = limits;
    }

    TestDevice(String name, long capacityBytes) {
        this(name, capacityBytes, new MemoryStore(name, 4096).limits());
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    void holdIf(Predicate<Bio> p) {
        holdIf = p;
    }

    void failIf(Predicate<Bio> p, BioStatus status) {
        failWith = status;
        failIf = p;
    }

    void throwOnExtents(boolean value) {
        throwOnExtents = value;
    }

    int heldCount() {
        synchronized (holdLock) {
            return held.size();
        }
    }

    /** Stops holding and lets every held bio go on (completes them on the calling thread). */
    void releaseHeld() {
        List<Bio> list;
        synchronized (holdLock) {
            holdIf = b -> false;
            list = new ArrayList<>(held);
            held.clear();
        }
        for (Bio bio : list) {
            lower().submitBio(bio);
        }
    }

    @Override
    public void submitBio(Bio bio) {
        onSubmit.accept(bio);
        switch (bio.op()) {
            case READ -> reads.incrementAndGet();
            case WRITE -> writes.incrementAndGet();
            case FLUSH -> flushes.incrementAndGet();
            case DISCARD -> discards.incrementAndGet();
            case WRITE_ZEROES -> writeZeroes.incrementAndGet();
        }
        if (bio.hasFlag(BioFlags.FUA)) {
            fuaBios.incrementAndGet();
        }
        if (bio.hasFlag(BioFlags.NOUNMAP)) {
            noUnmap.incrementAndGet();
        }
        if (bio.hasFlag(BioFlags.FAST_ZERO)) {
            fastZero.incrementAndGet();
        }
        if (failIf.test(bio)) {
            bio.complete(failWith);
            return;
        }
        synchronized (holdLock) {
            if (holdIf.test(bio)) {
                held.add(bio);
                maxHeld.accumulateAndGet(held.size(), Math::max);
                onHold.accept(bio);
                return;
            }
        }
        if (bio.op() == BioOp.FLUSH) {
            bio.complete();
            return;
        }
        lower().submitBio(bio);
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        extentQueries.incrementAndGet();
        if (throwOnExtents) {
            throw new IllegalStateException("injected extent failure");
        }
        lower().queryExtents(sector, sectors, sink);
    }
}
