package dev.cairn.block;

import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.BooleanSupplier;

/**
 * A read/write semaphore for driver code (Linux {@code struct rw_semaphore}); dm-snapshot's
 * {@code s->lock} is one.
 *
 * <p>Fast paths are {@code tryLock}; only a thread that will really park runs the submitter's block
 * hook and registers with the watchdog. Waits are aborted with {@link IoAbortedException} when the
 * submitter shuts down.
 *
 * <p>Thread safety: all methods may be called from any thread; unlocks only by the thread that locked.
 */
public final class IoRwSemaphore implements ParkRecord.Blocker {
    private static final int SPINS = 64;

    private final Submitter submitter;
    private final String name;
    private final Sync sync = new Sync();
    private final ReentrantReadWriteLock.ReadLock read = sync.readLock();
    private final ReentrantReadWriteLock.WriteLock write = sync.writeLock();
    private final SchedulingHook hook;

    private static final class Sync extends ReentrantReadWriteLock {
        private static final long serialVersionUID = 1L;

        Thread owner() {
            return getOwner();
        }
    }

    public IoRwSemaphore(Submitter submitter, String name) {
        this.submitter = submitter;
        this.name = name;
        this.hook = submitter.hook;
    }

    /** {@code down_read}. */
    public void lockRead() {
        if (hook != null) {
            hook.beforeUse(this);
        }
        if (!read.tryLock()) {
            lockSlow(false);
        }
    }

    /** {@code up_read}. */
    public void unlockRead() {
        read.unlock();
    }

    /** {@code down_write}. */
    public void lockWrite() {
        if (hook != null) {
            hook.beforeUse(this);
        }
        if (!write.tryLock()) {
            lockSlow(true);
        }
    }

    /** {@code up_write}. */
    public void unlockWrite() {
        write.unlock();
    }

    public boolean tryLockRead() {
        return read.tryLock();
    }

    public boolean tryLockWrite() {
        return write.tryLock();
    }

    public boolean isWriteLockedByCurrentThread() {
        return sync.isWriteLockedByCurrentThread();
    }

    private void lockSlow(boolean exclusive) {
        for (int i = 0; i < SPINS; i++) {
            Thread.onSpinWait();
            if (exclusive ? write.tryLock() : read.tryLock()) {
                return;
            }
        }
        BooleanSupplier free = hook == null ? null
                : exclusive ? () -> !sync.isWriteLocked() && sync.getReadLockCount() == 0
                : () -> !sync.isWriteLocked();
        Parking.park(submitter, this, free, () -> {
            if (exclusive) {
                write.lockInterruptibly();
            } else {
                read.lockInterruptibly();
            }
            return true;
        });
    }

    @Override
    public String describe() {
        return "rw semaphore " + name;
    }

    @Override
    public String describeHolders() {
        Thread w = sync.owner();
        if (w != null) {
            return "write-held by " + w.getName();
        }
        int readers = sync.getReadLockCount();
        return readers == 0 ? "free" : "read-held " + readers + " time(s)";
    }

    @Override
    public String toString() {
        return "IoRwSemaphore[" + name + ", " + describeHolders() + "]";
    }
}
