package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.CMD_WRITE;

import dev.cairn.block.InlineIo;
import java.io.IOException;

/**
 * Which thread runs a connection's request loop: the connection's own virtual thread, or, while the client
 * streams large WRITEs, a platform thread of its own.
 *
 * <p>Why two kinds. A virtual thread that reads a socket parks whenever the data is not there yet and is
 * woken through the JDK's poller (an {@code epoll_ctl}, the poller's {@code epoll_wait}, a scheduler
 * hand-off). For small requests that is cheap, and the virtual-thread scheduler's carriers, which spin a
 * little before they sleep, answer the next request sooner than a sleeping platform thread would (4k
 * randread qd1: 25-29k IOPS against 16-18k on a platform thread). A large WRITE payload, though, arrives in
 * pieces (a Unix socket holds about 200 KiB of the sender's data), and each piece costs a park and a poller
 * wake-up: under nbdcopy writes (256 KiB payloads) the server spent 44 ticks of CPU per GiB on a virtual
 * reader and 28 on a platform reader, which blocks in {@code read(2)} and is woken by the kernel directly
 * (1.8 against 2.5 GiB/s; docs/benchmarks/harness-history.md). On that thread the loop runs inside
 * {@link InlineIo#call}, so a file store writes the payload right there, like nbdkit's threads do, instead
 * of handing each bio to its pool and the reply back (the CPU of those hand-offs exceeded that of the
 * writes: nbdcopy into a file export).
 *
 * <p>So after {@link #STREAM_ENTER_REQUESTS} large WRITEs in a row ({@link #afterRequest} votes) the loop
 * moves to a platform thread, and after {@link #STREAM_LEAVE_REQUESTS} other requests in a row it moves
 * back. A move happens only between two requests (the loop returns true when nothing of the reader's is half
 * done), and the connection's own thread waits for the platform thread meanwhile, so everything that joins
 * or interrupts the connection still sees one thread.
 *
 * <p>Thread safety: {@link #run} runs on the connection's thread; {@link #afterRequest} on the thread that
 * runs the loop now; {@link #onReader} and {@link #switches} on any thread. The vote count is touched only by
 * the loop's thread of the moment; thread start and join order the two threads' accesses to it (and to
 * everything else the loop owns). {@link #readerThread} is volatile: completions on other threads compare
 * against it.
 */
final class ReaderThreads {
    /** Large WRITEs (at least this payload) in a row move the request loop to a platform thread. */
    static final int STREAM_WRITE_MIN_BYTES = 64 * 1024;
    /** How many large WRITEs in a row move the loop to a platform thread. */
    static final int STREAM_ENTER_REQUESTS = 8;
    /** How many other requests in a row move it back to the virtual thread. */
    static final int STREAM_LEAVE_REQUESTS = 16;

    /** A request loop: runs until the client is done (false) or the loop should move threads (true). */
    @FunctionalInterface
    interface Loop {
        boolean run() throws IOException;
    }

    private final Thread connectionThread;
    private final String streamingThreadName;
    /** The thread that runs the loop now; changed only between two requests. */
    private volatile Thread readerThread;
    /** Consecutive requests that argue for the other kind of thread. */
    private int votes;
    /** Times the loop moved to a platform thread. */
    private volatile int switches;

    /**
     * @param connectionThread    the thread that will call {@link #run} (the connection's virtual thread)
     * @param streamingThreadName the name of the platform threads the loop moves to
     */
    ReaderThreads(Thread connectionThread, String streamingThreadName) {
        this.connectionThread = connectionThread;
        this.streamingThreadName = streamingThreadName;
        this.readerThread = connectionThread;
    }

    /**
     * Runs {@code loop} on the connection's thread and, each time it returns true, on the other kind of
     * thread, until it returns false or throws. Called on the connection's thread.
     */
    void run(Loop loop) throws IOException {
        if (Thread.currentThread() != connectionThread) {
            throw new IllegalStateException("run: on " + Thread.currentThread() + " (expected: " + connectionThread + ")");
        }
        boolean streaming = false;
        while (true) {
            boolean moveOn = streaming ? onStreamingThread(loop) : loop.run();
            if (!moveOn) {
                return;
            }
            streaming = !streaming;
            votes = 0;
        }
    }

    /** Runs {@code loop} on a new platform thread while this (virtual) thread waits for it. */
    private boolean onStreamingThread(Loop loop) throws IOException {
        boolean[] moveOn = {false};
        Throwable[] failed = {null};
        Thread t = Thread.ofPlatform().daemon().name(streamingThreadName).unstarted(() -> {
            try {
                // Stores may do their blocking I/O right here (FileStore does): no hand-off to a worker and back.
                moveOn[0] = InlineIo.call(loop::run);
            } catch (Throwable e) {
                failed[0] = e;
            }
        });
        readerThread = t;
        switches++;
        try {
            t.start();
            joinUninterruptibly(t);
        } finally {
            readerThread = connectionThread;
        }
        // happens-before: the join orders the streaming thread's writes of moveOn and failed before these reads.
        switch (failed[0]) {
            case null -> {
                return moveOn[0];
            }
            case IOException e -> throw e;
            case RuntimeException e -> throw e;
            case Error e -> throw e;
            default -> throw new IllegalStateException("request loop failed", failed[0]);
        }
    }

    /**
     * Counts a handled request's vote for the other kind of thread; true when the loop should move now.
     * Called by the loop, between two requests.
     */
    boolean afterRequest(int type, int lengthBytes) {
        boolean largeWrite = type == CMD_WRITE && Integer.compareUnsigned(lengthBytes, STREAM_WRITE_MIN_BYTES) >= 0;
        boolean streaming = Thread.currentThread() != connectionThread;
        if (largeWrite != streaming) {
            votes++;
        } else {
            votes = 0;
        }
        return votes >= (streaming ? STREAM_LEAVE_REQUESTS : STREAM_ENTER_REQUESTS);
    }

    /** True on the thread that runs the request loop now. */
    boolean onReader() {
        return Thread.currentThread() == readerThread;
    }

    /** Times the loop moved to a platform thread. */
    int switches() {
        return switches;
    }

    static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
