package dev.cairn.block.store;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The thread pools that run {@link FileStore}'s blocking system calls: the process-wide one every store with
 * {@code ioThreads = 0} shares, and private ones.
 *
 * <p>Why one shared pool: a stack of several file stores (striped over 4 files, a snapshot's origin and COW)
 * used to run one pool per store, 16 threads on a 2-core machine, each waking for its own few requests. The
 * kernel does not need more threads than requests it can have in flight on the disks; a store's queue never
 * waits behind another's for long because every call is a single bounded system call.
 *
 * <p>The shared pool has {@code max(4, 2 × cores)} daemon threads named {@code cairn-file-io-<n>}, created on
 * first use and stopped after a minute without work; it is never shut down (a store's close waits for its own
 * bios only). Each thread keeps its own scratch memory (see {@code FileStore}).
 *
 * <p>Thread safety: the executors are thread-safe; the lazy creation of the shared one is the JVM's class
 * initialisation.
 */
final class FileIoPool {
    private static final long IDLE_SECONDS = 60;

    private FileIoPool() {}

    /** The process-wide pool, created on first use. */
    static ThreadPoolExecutor shared() {
        return Shared.POOL;
    }

    /** Threads of the shared pool: {@code max(4, 2 × cores)}. */
    static int sharedThreads() {
        return Math.max(4, 2 * Runtime.getRuntime().availableProcessors());
    }

    private static final class Shared {
        static final ThreadPoolExecutor POOL = create("cairn-file-io-", sharedThreads(), true);
    }

    /**
     * A fixed pool of {@code threads} daemon threads named {@code prefix<n>} with an unbounded queue; with
     * {@code idleTimeout} its threads stop after a minute without work (and start again on demand).
     */
    static ThreadPoolExecutor create(String prefix, int threads, boolean idleTimeout) {
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(threads, threads, IDLE_SECONDS, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(),
                r -> Thread.ofPlatform().daemon().name(prefix + n.incrementAndGet()).unstarted(r));
        pool.allowCoreThreadTimeOut(idleTimeout);
        return pool;
    }
}
