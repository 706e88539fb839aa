package dev.cairn.nbd.server;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Per-connection bound on requests and payload bytes between "header read" and "reply written". The
 * reader takes a share before it reads a payload or allocates a buffer; the reply writer gives it back
 * after the reply is on the wire. When the budget is spent the reader stops reading the socket, which is
 * the back-pressure a pipelining client sees (TCP/Unix flow control). READs may also wait on a third bound,
 * the read data already copied and queued for the writer ({@link #readQueued}), which keeps the reader from
 * running far ahead of the socket.
 *
 * <p>Waiting here uses a plain {@link Condition}, not a block-layer primitive, on purpose: only the
 * connection's reader waits, and it never holds parked bios (its {@code submit} calls have returned).
 *
 * <p>Thread safety: all methods may be called from any thread; state is guarded by one lock.
 */
final class InFlightBudget {
    private final int maxRequests;
    private final long maxBytes;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private int requests; // @GuardedBy("lock")
    private long bytes; // @GuardedBy("lock")
    private long queuedReadBytes; // @GuardedBy("lock")
    private boolean waiting; // @GuardedBy("lock")
    private boolean aborted; // @GuardedBy("lock")

    InFlightBudget(int maxRequests, long maxBytes) {
        this.maxRequests = maxRequests;
        this.maxBytes = maxBytes;
    }

    /**
     * Takes one request and {@code lengthBytes}, waiting while either bound would be exceeded or while more
     * than {@code maxQueuedReadBytes} of read data are queued for the writer ({@link #readQueued};
     * {@link Long#MAX_VALUE}: no such wait). A request always fits when nothing else is in flight. Returns
     * false when the budget was aborted.
     */
    boolean acquire(long lengthBytes, long maxQueuedReadBytes) {
        lock.lock();
        try {
            while (!aborted && requests > 0 && (requests >= maxRequests || bytes + lengthBytes > maxBytes
                    || queuedReadBytes > maxQueuedReadBytes)) {
                waiting = true;
                changed.awaitUninterruptibly();
            }
            waiting = false;
            if (aborted) {
                return false;
            }
            requests++;
            bytes += lengthBytes;
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** {@code lengthBytes} of read data are in memory, queued for the writer. */
    void readQueued(long lengthBytes) {
        lock.lock();
        try {
            queuedReadBytes += lengthBytes;
        } finally {
            lock.unlock();
        }
    }

    void release(long lengthBytes) {
        release(lengthBytes, 0);
    }

    /** Gives back one request, its {@code lengthBytes} and the {@code queuedReadLengthBytes} it had queued. */
    void release(long lengthBytes, long queuedReadLengthBytes) {
        lock.lock();
        try {
            requests--;
            bytes -= lengthBytes;
            queuedReadBytes -= queuedReadLengthBytes;
            assert requests >= 0 && bytes >= 0 && queuedReadBytes >= 0 : "budget released more than acquired";
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until fewer than {@code requests} requests are in flight (one of this connection's completed);
     * false at once when fewer already are, or when the budget was aborted. The reader uses it to wait for
     * server memory only while its own requests can still give some back ({@link Connection}).
     */
    boolean awaitFewerThan(int requests) {
        lock.lock();
        try {
            if (this.requests < requests) {
                return false;
            }
            while (!aborted && this.requests >= requests) {
                changed.awaitUninterruptibly();
            }
            return !aborted;
        } finally {
            lock.unlock();
        }
    }

    /** Wakes and fails every current and future {@link #acquire}. */
    void abort() {
        lock.lock();
        try {
            aborted = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Whether a request waits in {@link #acquire} for the budget now (its reader is stalled by it). */
    boolean waiting() {
        lock.lock();
        try {
            return waiting;
        } finally {
            lock.unlock();
        }
    }

    int requests() {
        lock.lock();
        try {
            return requests;
        } finally {
            lock.unlock();
        }
    }

    /** Waits until no request is in flight; false on timeout. */
    boolean awaitIdle(long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        lock.lock();
        try {
            while (requests > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    changed.awaitNanos(Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        } finally {
            lock.unlock();
        }
    }
}
