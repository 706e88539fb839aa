package dev.cairn.block;

import java.util.concurrent.locks.ReentrantLock;

/**
 * A mutual-exclusion lock for driver code (Linux {@code struct mutex}).
 *
 * <p>The uncontended path is a single {@code tryLock} CAS, as cheap as {@link ReentrantLock}. Only when
 * the lock is taken does the caller spin briefly, and only when it is really going to park does it run
 * the submitter's block hook (under FLUSH_ON_BLOCK its parked bios go to their rescuers) and register
 * with the watchdog. A wait is aborted with {@link IoAbortedException} when the submitter shuts down.
 *
 * <p>Not reentrant in intent: a driver must not take a mutex it holds (this is checked by an assertion).
 *
 * <p>Thread safety: all methods may be called from any thread; {@link #unlock} only by the owner.
 */
public final class IoMutex implements ParkRecord.Blocker {
    private static final int SPINS = 64;

    private final Submitter submitter;
    private final String name;
    private final Sync sync = new Sync();
    private final SchedulingHook hook;

    /** {@link ReentrantLock} with its owner visible to the watchdog. */
    private static final class Sync extends ReentrantLock {
        private static final long serialVersionUID = 1L;

        Thread owner() {
            return getOwner();
        }
    }

    public IoMutex(Submitter submitter, String name) {
        this.submitter = submitter;
        this.name = name;
        this.hook = submitter.hook;
    }

    public void lock() {
        if (hook != null) {
            hook.beforeUse(this);
        }
        if (!sync.tryLock()) {
            lockSlow();
        }
        assert sync.getHoldCount() == 1 : "IoMutex " + name + " taken twice by " + Thread.currentThread();
    }

    public boolean tryLock() {
        return sync.tryLock();
    }

    private void lockSlow() {
        for (int i = 0; i < SPINS; i++) {
            Thread.onSpinWait();
            if (sync.tryLock()) {
                return;
            }
        }
        Parking.park(submitter, this, hook == null ? null : () -> !sync.isLocked(), () -> {
            sync.lockInterruptibly();
            return true;
        });
    }

    public void unlock() {
        sync.unlock();
    }

    public boolean isHeldByCurrentThread() {
        return sync.isHeldByCurrentThread();
    }

    @Override
    public String describe() {
        return "mutex " + name;
    }

    @Override
    public String describeHolders() {
        Thread t = sync.owner();
        return t == null ? "free" : "held by " + t.getName();
    }

    @Override
    public String toString() {
        return "IoMutex[" + name + ", " + describeHolders() + "]";
    }
}
