package dev.cairn.block;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded pool of bios with a rescuer thread (Linux {@code struct bio_set}: a mempool reserve plus
 * {@code rescue_workqueue}).
 *
 * <p><b>Pool.</b> {@code capacity} bios are made up front; {@link #alloc()} takes one, and a bio goes
 * back by itself after its end-io callback. When all are in use, {@link #alloc()} is a blocking
 * primitive: it first punts the calling thread's parked bios from this set to the rescuer (the 2012
 * rule: those bios may be the ones whose completion would free a bio), runs the policy's block hook,
 * then parks until a bio is freed. That reserve is what guarantees forward progress: every bio taken
 * from the set is submitted before the next one is taken, so one always comes back.
 *
 * <p><b>Rescuer.</b> A thread named {@code cairn-rescuer-<set>}, started on first use, that submits
 * punted bios from its own submission context. It stops when the set or its submitter closes; bios
 * still waiting for it then complete with {@link BioStatus#ABORTED}.
 *
 * <p>Thread safety: all methods may be called from any thread. The free list is a lock-free queue;
 * waiters and the rescuer list use a lock only on their slow paths.
 */
public final class BioSet implements AutoCloseable {
    private final Submitter submitter;
    private final String name;
    private final int capacity;
    private final Bio[] all;
    private final BoundedMpmcQueue<Bio> free;
    private final ParkRecord.Blocker blocker;
    private final SchedulingHook hook;

    private final ReentrantLock waitLock = new ReentrantLock();
    private final Condition freed = waitLock.newCondition();
    private final AtomicInteger waiters = new AtomicInteger();

    private final ReentrantLock rescueLock = new ReentrantLock();
    private final Condition rescueWork = rescueLock.newCondition();
    @GuardedBy("rescueLock")
    private final BioList rescueList = new BioList();
    @GuardedBy("rescueLock")
    private Thread rescuer;
    @GuardedBy("rescueLock")
    private long rescued;
    @GuardedBy("rescueLock")
    private long punted;
    private volatile boolean closed;

    /** What the rescuer waits in, for a scheduling hook. */
    private final Object rescueBlocker = new Object() {
        @Override
        public String toString() {
            return "rescuer work of bioset " + name;
        }
    };

    BioSet(Submitter submitter, String name, int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity: " + capacity + " (expected: >= 1)");
        }
        this.submitter = submitter;
        this.name = name;
        this.capacity = capacity;
        this.hook = submitter.hook;
        this.all = new Bio[capacity];
        this.free = new BoundedMpmcQueue<>(capacity);
        for (int i = 0; i < capacity; i++) {
            Bio b = new Bio(this);
            b.markFree();
            all[i] = b;
            free.offer(b);
        }
        this.blocker = new ParkRecord.Blocker() {
            @Override
            public String describe() {
                return "bioset " + BioSet.this.name + " (all " + BioSet.this.capacity + " bios in use)";
            }

            @Override
            public String describeHolders() {
                return inUseCount() + " bios out";
            }

            @Override
            public String toString() {
                return describe();
            }
        };
        submitter.register(this);
    }

    public String name() {
        return name;
    }

    public int capacity() {
        return capacity;
    }

    public Submitter submitter() {
        return submitter;
    }

    /** Bios in the pool now. */
    public int available() {
        return free.size();
    }

    /** How many bios the rescuer has submitted so far. */
    public long rescuedCount() {
        rescueLock.lock();
        try {
            return rescued;
        } finally {
            rescueLock.unlock();
        }
    }

    /** How many bios have been punted to the rescuer so far (handed over; {@link #rescuedCount} once it submits them). */
    public long puntedCount() {
        rescueLock.lock();
        try {
            return punted;
        } finally {
            rescueLock.unlock();
        }
    }

    /** Takes a bio, waiting (a blocking primitive) while all are in use. */
    public Bio alloc() {
        if (hook != null) {
            hook.beforeUse(this);
        }
        Bio b = free.poll();
        if (b == null) {
            b = allocSlow();
        }
        return prepare(b);
    }

    /** Takes a bio if one is free now; null otherwise. Never blocks, never punts. */
    public Bio tryAlloc() {
        Bio b = free.poll();
        return b == null ? null : prepare(b);
    }

    private Bio prepare(Bio b) {
        b.arm();
        b.inUse = true;
        b.allocTick = submitter.tick;
        return b;
    }

    private Bio allocSlow() {
        Submitter.puntOwn(this);
        Bio b = free.poll();
        if (b != null) {
            return b;
        }
        ParkRecord record = submitter.parkBegin(blocker);
        if (hook != null) {
            hook.beforePark(blocker, () -> free.size() > 0 || closed || submitter.isShutdown());
        }
        boolean interrupted = false;
        waitLock.lock();
        try {
            waiters.incrementAndGet();
            try {
                while ((b = free.poll()) == null) {
                    if (submitter.isShutdown() || closed) {
                        throw new IoAbortedException("bio set " + name + " closed while waiting for a bio");
                    }
                    try {
                        freed.await();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            } finally {
                // Frees signal one waiter each; if bios remain for others, pass the wake-up on.
                if (waiters.decrementAndGet() > 0 && free.size() > 0) {
                    freed.signal();
                }
            }
        } finally {
            waitLock.unlock();
            submitter.parkEnd(record);
            if (interrupted && !submitter.isShutdown()) {
                Thread.currentThread().interrupt();
            }
        }
        return b;
    }

    /** Returns {@code bio} to the pool (called by {@link Bio#complete} after end-io). */
    void free(Bio bio) {
        if (!bio.inUse) {
            throw new AssertionError("bio freed twice: " + bio);
        }
        bio.inUse = false;
        bio.reset();
        bio.markFree();
        if (!free.offer(bio)) {
            throw new AssertionError("bio set " + name + " has more bios than its capacity " + capacity);
        }
        // happens-before: the offer above is visible to a waiter that incremented waiters before polling.
        if (waiters.get() > 0) {
            waitLock.lock();
            try {
                freed.signal();
            } finally {
                waitLock.unlock();
            }
        }
    }

    // ---------------------------------------------------------------- rescuer

    /** Hands {@code bio} to the rescuer thread, starting it if needed. */
    void rescue(Bio bio) {
        rescueLock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("bio set " + name + " is closed");
            }
            rescueList.add(bio);
            punted++;
            if (rescuer == null) {
                rescuer = Thread.ofPlatform().daemon().name("cairn-rescuer-" + name).unstarted(this::rescueLoop);
                if (hook != null) {
                    hook.threadStarting(rescuer);
                }
                rescuer.start();
            }
            rescueWork.signal();
        } finally {
            rescueLock.unlock();
        }
    }

    private void rescueLoop() {
        while (true) {
            if (hook != null) {
                // The rescuer's wait for work is a scheduling point like any other wait.
                hook.beforePark(rescueBlocker, this::hasRescueWork);
            }
            Bio bio;
            rescueLock.lock();
            try {
                while ((bio = rescueList.pop()) == null) {
                    if (closed) {
                        return;
                    }
                    rescueWork.awaitUninterruptibly();
                }
                rescued++;
            } finally {
                rescueLock.unlock();
            }
            try {
                submitter.submit(bio);
            } catch (IoAbortedException e) {
                return;
            }
        }
    }

    private boolean hasRescueWork() {
        rescueLock.lock();
        try {
            return closed || !rescueList.isEmpty();
        } finally {
            rescueLock.unlock();
        }
    }

    boolean isClosed() {
        return closed;
    }

    /** Stops the rescuer; bios still waiting for it complete with ABORTED. */
    void stopRescuer() {
        BioList left = new BioList();
        rescueLock.lock();
        try {
            closed = true;
            left.addAll(rescueList);
            rescueWork.signalAll();
        } finally {
            rescueLock.unlock();
        }
        waitLock.lock();
        try {
            freed.signalAll();
        } finally {
            waitLock.unlock();
        }
        Bio b;
        while ((b = left.pop()) != null) {
            b.complete(BioStatus.ABORTED);
        }
    }

    /** Bios out of the pool whose allocation tick is at or before {@code tick}, for the watchdog. */
    List<String> inUseSince(long tick) {
        List<String> out = new ArrayList<>();
        for (Bio b : all) {
            if (b.inUse && b.allocTick <= tick) {
                out.add(b.toString());
            }
        }
        return out;
    }

    int inUseCount() {
        int n = 0;
        for (Bio b : all) {
            if (b.inUse) {
                n++;
            }
        }
        return n;
    }

    /** Stops the rescuer and forgets the set. Bios still out may complete later and are simply dropped. */
    @Override
    public void close() {
        stopRescuer();
        submitter.unregister(this);
    }

    @Override
    public String toString() {
        return "BioSet[" + name + ", " + available() + "/" + capacity + " free]";
    }
}
