package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.IoMutex;
import dev.cairn.block.Submitter;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The I/O gate of a mapped device (Linux's {@code DMF_BLOCK_IO_FOR_SUSPEND}, {@code md->pending} and
 * {@code md->deferred}): counts bios in flight, holds new ones while a suspend has closed it, waits for the
 * in-flight ones to drain, and replays the held ones in arrival order at resume.
 *
 * <h2>Implementation notes</h2>
 * The in-flight count and the gate form a Dekker pair: {@link #enter} increments the count then reads the
 * gate; {@link #closeAndDrain} closes the gate then reads the count. So either the bio sees the gate and is
 * held, or the suspender sees the bio and waits for its {@link #exit}. Held bios are not counted. The wait
 * re-reads the count after each wake-up: {@code SuspendGateLincheckTest} found a stale wake-up that ended a
 * drain with a bio still in flight when the count was read only once (see {@link #awaitDrain}).
 *
 * <p>{@link #openAndReplay} opens the gate and replays the held queue on the calling thread. Until the queue
 * is empty, bios arriving from other threads are appended behind it ({@code draining}), so nothing overtakes
 * held I/O; bios the replaying thread submits itself (the replay's own recursion) pass.
 *
 * <p>Thread safety: {@link #enter}, {@link #exit}, {@link #requeue} and {@link #stats} from any thread,
 * concurrently. {@link #closeAndDrain}, {@link #openAndReplay} and {@link #kill} are control operations: the
 * caller serializes them (the device's control mutex). The held queue and the replaying thread are guarded by
 * an {@link IoMutex} (a block-layer primitive: a thread that waits for it hands its parked bios on); the
 * flags are volatile for the lock-free fast path.
 */
final class SuspendGate {
    /** What {@link #enter} decided. */
    enum Admission {
        /** Go on: the bio is counted in flight; call {@link #exit} when it is finished. */
        ADMITTED,
        /** The gate held the bio for {@link #openAndReplay}; it is not counted. */
        HELD,
        /** The device is gone: the caller fails the bio (it is counted; call {@link #exit} after). */
        DEAD
    }

    private final Submitter submitter;
    private final String name;
    private final IoMutex heldLock;
    /** Bios that entered and have not exited (held bios are not counted). */
    private final AtomicLong inFlight = new AtomicLong();
    /** The gate: new I/O is held. Read after incrementing {@link #inFlight}. */
    private volatile boolean blocked;
    /** Held I/O is being replayed by {@link #replayThread}; others queue behind it. */
    private volatile boolean draining;
    private volatile boolean dead;
    private volatile IoCompletion drained;
    /** A drain is waiting ({@link #awaitDrain(Duration)}). */
    private volatile boolean drainWaiting;
    /** {@link #abortDrain()} was called for the waiting drain. */
    private volatile boolean drainAborted;

    // ---- guarded by heldLock
    private final ArrayDeque<Bio> held = new ArrayDeque<>();
    private Thread replayThread;

    SuspendGate(Submitter submitter, String name) {
        this.submitter = submitter;
        this.name = name;
        this.heldLock = new IoMutex(submitter, "dm " + name + " held queue");
    }

    /** Counts {@code bio} in flight unless the gate holds it (see {@link Admission}). */
    Admission enter(Bio bio) {
        inFlight.incrementAndGet();
        // Read order matters: blocked first, then draining (openAndReplay writes them in the other order).
        if (!(blocked | draining)) {
            return Admission.ADMITTED;
        }
        heldLock.lock();
        try {
            if (dead) {
                return Admission.DEAD;
            }
            if (blocked || (draining && replayThread != Thread.currentThread())) {
                held.addLast(bio);
            } else {
                return Admission.ADMITTED;
            }
        } finally {
            heldLock.unlock();
        }
        exit();
        return Admission.HELD;
    }

    /**
     * Counts a query (extents) in flight, so a suspend waits for it too; returns whether the gate is open (a
     * closed or replaying gate answers without the table). Call {@link #exit} when done, either way.
     */
    boolean enterQuery() {
        inFlight.incrementAndGet();
        return !(blocked | draining);
    }

    /** A bio that {@link #enter} counted has finished; wakes a drain waiting for the last one. */
    void exit() {
        if (inFlight.decrementAndGet() == 0 && blocked) {
            IoCompletion d = drained;
            if (d != null) {
                d.complete();
            }
        }
    }

    /** Puts a requeued bio at the front of the held queue, for the next {@link #openAndReplay}. */
    void requeue(Bio bio) {
        heldLock.lock();
        try {
            held.addFirst(bio);
        } finally {
            heldLock.unlock();
        }
    }

    /** How a drain ended. */
    enum Drain {
        /** No bio is in flight; the gate is closed. */
        DRAINED,
        /** The timeout passed first; the gate is still closed (reopen it with {@link #openAndReplay}). */
        TIMED_OUT,
        /** {@link #abortDrain()} was called; the gate is still closed (reopen it with {@link #openAndReplay}). */
        ABORTED
    }

    /** Closes the gate and waits (a block-layer wait) until no bio is in flight. */
    void closeAndDrain() {
        close();
        try {
            awaitDrain();
        } finally {
            drainWaiting = false;
        }
    }

    /**
     * Closes the gate: new bios are held from now on. Does not wait. From here until the drain that follows
     * ends, {@link #abortDrain()} takes effect: an abort that comes before the wait begins is not lost.
     */
    void close() {
        heldLock.lock();
        try {
            blocked = true;
            drainAborted = false;
            drainWaiting = true;
        } finally {
            heldLock.unlock();
        }
    }

    /**
     * After {@link #close}: waits until no bio is in flight, until {@code timeout} (null: none) passes, or until
     * {@link #abortDrain()} is called, whichever comes first.
     */
    Drain awaitDrain(Duration timeout) {
        long deadline = timeout == null ? 0 : System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                IoCompletion d = new IoCompletion(submitter, "drain of dm " + name);
                drained = d; // published before the checks: see awaitDrain() and abortDrain()
                if (inFlight.get() == 0) {
                    return Drain.DRAINED;
                }
                if (drainAborted) {
                    return Drain.ABORTED;
                }
                if (timeout == null) {
                    d.await();
                } else {
                    long leftNanos = deadline - System.nanoTime();
                    if (leftNanos <= 0 || !d.await(Duration.ofNanos(leftNanos))) {
                        return inFlight.get() == 0 ? Drain.DRAINED : Drain.TIMED_OUT;
                    }
                }
            }
        } finally {
            drainWaiting = false;
        }
    }

    /**
     * Makes a waiting {@link #awaitDrain(Duration)} give up; false when none waits. Any thread, does not block.
     * The flag is set before the completion is read, and the drain publishes its completion before it reads the
     * flag, so either the drain sees the flag or this completes the completion the drain waits on.
     */
    boolean abortDrain() {
        if (!drainWaiting) {
            return false;
        }
        drainAborted = true;
        IoCompletion d = drained;
        if (d != null) {
            d.complete();
        }
        return true;
    }

    /** A suspend has closed the gate and its drain has not ended (no lock). */
    boolean isDrainWaiting() {
        return drainWaiting;
    }

    /** Bios in flight now. */
    long inFlightCount() {
        return inFlight.get();
    }

    /** Opens the gate and submits the held bios in order on this thread; returns how many. */
    int openAndReplay(Consumer<Bio> resubmit) {
        heldLock.lock();
        try {
            replayThread = Thread.currentThread();
            draining = !held.isEmpty();
            blocked = false;
        } finally {
            heldLock.unlock();
        }
        int replayed = 0;
        while (true) {
            Bio b;
            heldLock.lock();
            try {
                b = held.pollFirst();
                if (b == null) {
                    draining = false;
                    replayThread = null;
                    return replayed;
                }
            } finally {
                heldLock.unlock();
            }
            resubmit.accept(b);
            replayed++;
        }
    }

    /**
     * For removal: closes the gate for good (every later {@link #enter} answers DEAD), hands the held bios to
     * {@code fail}, then waits until no bio is in flight.
     */
    void kill(Consumer<Bio> fail) {
        List<Bio> out;
        heldLock.lock();
        try {
            dead = true;
            blocked = true;
            out = List.copyOf(held);
            held.clear();
        } finally {
            heldLock.unlock();
        }
        out.forEach(fail);
        awaitDrain();
    }

    /**
     * Waits until no bio is in flight, with the gate closed. A wake-up only means "the count reached zero at
     * some point after the gate closed", and can be stale: an {@link #exit} may take the count to zero, then a
     * bio may enter (before the gate closed), then that exit may see the gate closed and complete the drain
     * while the new bio is still in flight. So the count is checked again after every wake-up, with a new
     * completion published before each check (Linux's {@code dm_wait_for_completion} loops the same way).
     */
    private void awaitDrain() {
        while (true) {
            IoCompletion d = new IoCompletion(submitter, "drain of dm " + name);
            // happens-before: an exit that takes the count to zero after the check below reads this completion
            drained = d;
            if (inFlight.get() == 0) {
                return;
            }
            d.await();
        }
    }

    boolean isDead() {
        return dead;
    }

    int heldCount() {
        heldLock.lock();
        try {
            return held.size();
        } finally {
            heldLock.unlock();
        }
    }

    /** The gate's figures now (each read on its own). */
    DeviceIoStats stats() {
        return new DeviceIoStats(inFlight.get(), blocked, draining, heldCount());
    }
}
