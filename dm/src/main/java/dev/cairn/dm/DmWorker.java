package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import dev.cairn.block.IoAbortedException;
import dev.cairn.block.Submitter;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * A mapped device's worker thread (Linux {@code md->wq}): resubmits bios dm core must not submit
 * from the thread that completed them (the data part of a PREFLUSH bio after its flush, a requeued
 * bio), in the order they were handed over. A completion thread of a lower device may be the one
 * that frees the bios a resubmission would wait for, so it must never do the submission itself.
 *
 * <p>The idle wait is a plain {@code LockSupport.park}: it happens outside any submission, so the
 * thread has no parked bios that the block layer's before-block hook would need to flush.
 *
 * <p>Thread safety: {@link #add} from any thread; one consumer thread, started lazily.
 */
final class DmWorker {
    private final String name;
    private final Submitter submitter;
    private final ConcurrentLinkedQueue<Bio> queue = new ConcurrentLinkedQueue<>();
    private final Object startLock = new Object();
    private volatile Thread thread;
    private volatile boolean stopped;

    DmWorker(String name, Submitter submitter) {
        this.name = name;
        this.submitter = submitter;
    }

    void add(Bio bio) {
        if (stopped) {
            bio.complete(BioStatus.IOERR);
            return;
        }
        queue.add(bio);
        Thread t = thread;
        if (t == null) {
            synchronized (startLock) {
                t = thread;
                if (t == null) {
                    t = Thread.ofPlatform().daemon().name("cairn-dm-" + name).start(this::run);
                    thread = t;
                }
            }
        }
        LockSupport.unpark(t);
        // happens-before: a stop() racing with this add drains the queue after setting stopped.
        if (stopped) {
            failAll();
        }
    }

    private void run() {
        while (!stopped) {
            Bio b = queue.poll();
            if (b == null) {
                LockSupport.park(this);
                continue;
            }
            try {
                submitter.submit(b);
            } catch (IoAbortedException e) {
                failAll();
                return;
            }
        }
        failAll();
    }

    private void failAll() {
        Bio b;
        while ((b = queue.poll()) != null) {
            b.complete(BioStatus.IOERR);
        }
    }

    void stop() {
        stopped = true;
        Thread t = thread;
        if (t != null) {
            LockSupport.unpark(t);
        }
        failAll();
    }
}
