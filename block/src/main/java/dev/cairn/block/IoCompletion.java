package dev.cairn.block;

import java.time.Duration;
import java.util.concurrent.locks.AbstractQueuedSynchronizer;

/**
 * A one-shot event to wait for (Linux {@code struct completion} used as {@code complete_all}):
 * once {@link #complete()} is called every present and future {@link #await()} returns.
 * {@link #submitAndWait} is {@code submit_bio_wait}.
 *
 * <p>{@code await} returns at once when already complete; only a thread that will park runs the
 * submitter's block hook and registers with the watchdog. Waits are aborted with
 * {@link IoAbortedException} when the submitter shuts down.
 *
 * <p>Thread safety: all methods may be called from any thread.
 */
public final class IoCompletion implements ParkRecord.Blocker {
    private final Submitter submitter;
    private final String what;
    private final Sync sync = new Sync();
    private final SchedulingHook hook;

    private static final class Sync extends AbstractQueuedSynchronizer {
        private static final long serialVersionUID = 1L;

        @Override
        protected int tryAcquireShared(int ignored) {
            return getState() != 0 ? 1 : -1;
        }

        @Override
        protected boolean tryReleaseShared(int ignored) {
            setState(1);
            return true;
        }

        boolean isDone() {
            return getState() != 0;
        }
    }

    public IoCompletion(Submitter submitter, String what) {
        this.submitter = submitter;
        this.what = what;
        this.hook = submitter.hook;
    }

    /** Marks the event done and wakes every waiter. Idempotent. */
    public void complete() {
        sync.releaseShared(1);
    }

    public boolean isDone() {
        return sync.isDone();
    }

    /** Waits until {@link #complete()} has been called. */
    public void await() {
        if (hook != null) {
            hook.beforeUse(this);
        }
        if (!sync.isDone()) {
            awaitSlow(-1);
        }
    }

    /** Waits at most {@code timeout}; true when complete. */
    public boolean await(Duration timeout) {
        if (hook != null) {
            hook.beforeUse(this);
        }
        return sync.isDone() || awaitSlow(timeout.toNanos());
    }

    private boolean awaitSlow(long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        return Parking.park(submitter, this, hook == null ? null : sync::isDone, () -> {
            if (timeoutNanos < 0) {
                sync.acquireSharedInterruptibly(1);
                return true;
            }
            return sync.tryAcquireSharedNanos(1, Math.max(0, deadline - System.nanoTime()));
        });
    }

    /**
     * Submits {@code bio} and waits for it to complete ({@code submit_bio_wait}); returns its status.
     * Any end-io already set on the bio runs first. Must not be called from inside a device's
     * {@code submitBio} for a bio that would be queued on the same thread (it could never start).
     */
    public static BioStatus submitAndWait(Submitter submitter, Bio bio) {
        Waiter w = new Waiter(submitter, bio.toString(), bio.endIo());
        bio.setEndIo(w);
        submitter.submit(bio);
        w.done.await();
        return w.status;
    }

    private static final class Waiter implements BioEndIo {
        final IoCompletion done;
        final BioEndIo previous;
        volatile BioStatus status;

        Waiter(Submitter submitter, String what, BioEndIo previous) {
            this.done = new IoCompletion(submitter, what);
            this.previous = previous;
        }

        @Override
        public void endIo(Bio bio) {
            if (previous != null) {
                previous.endIo(bio);
            }
            status = bio.status();
            done.complete();
        }
    }

    @Override
    public String describe() {
        return "completion of " + what;
    }

    @Override
    public String describeHolders() {
        return sync.isDone() ? "done" : "not done";
    }

    @Override
    public String toString() {
        return "IoCompletion[" + what + ", " + describeHolders() + "]";
    }
}
