package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.CMD_READ;
import static dev.cairn.nbd.protocol.NbdConstants.CMD_WRITE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.InlineIo;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * {@link ReaderThreads} on its own, without a socket: a scripted request loop feeds it votes and records on
 * which thread each request ran. The loop moves to a platform thread (inside {@link InlineIo#call}) after
 * {@link ReaderThreads#STREAM_ENTER_REQUESTS} large WRITEs in a row and back after
 * {@link ReaderThreads#STREAM_LEAVE_REQUESTS} other requests, a broken run resets the count, and whatever
 * the loop throws on the platform thread reaches the caller unchanged.
 */
class ReaderThreadsTest {
    private static final int LARGE = ReaderThreads.STREAM_WRITE_MIN_BYTES;
    private static final int SMALL = ReaderThreads.STREAM_WRITE_MIN_BYTES - 1;

    /** Where one scripted request ran. */
    private record Ran(boolean virtual, boolean inlineIo, boolean onReader) {}

    /** A request: its command and length. */
    private record Req(int type, int lengthBytes) {}

    /**
     * Runs {@code script} through a {@link ReaderThreads} on a fresh virtual thread (the connection's thread)
     * and returns where each request ran; the loop ends when the script does.
     */
    private static List<Ran> play(List<Req> script, ReaderThreads[] made) throws Exception {
        List<Ran> ran = new ArrayList<>();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        ReaderThreads[] readers = new ReaderThreads[1];
        Thread connection = Thread.ofVirtual().unstarted(() -> {
            int[] next = {0};
            try {
                readers[0].run(() -> {
                    while (next[0] < script.size()) {
                        Req r = script.get(next[0]++);
                        ran.add(new Ran(Thread.currentThread().isVirtual(), InlineIo.allowedHere(), readers[0].onReader()));
                        if (readers[0].afterRequest(r.type(), r.lengthBytes())) {
                            return true;
                        }
                    }
                    return false;
                });
            } catch (Throwable e) {
                failed.set(e);
            }
        });
        readers[0] = new ReaderThreads(connection, "test-stream");
        made[0] = readers[0];
        connection.start();
        connection.join();
        if (failed.get() != null) {
            throw new AssertionError("the loop failed", failed.get());
        }
        return ran;
    }

    private static List<Req> repeat(int n, int type, int lengthBytes) {
        List<Req> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Req(type, lengthBytes));
        }
        return out;
    }

    @Test
    void largeWritesInARowMoveTheLoopToAPlatformThreadAndOtherRequestsMoveItBack() throws Exception {
        int enter = ReaderThreads.STREAM_ENTER_REQUESTS;
        int leave = ReaderThreads.STREAM_LEAVE_REQUESTS;
        List<Req> script = new ArrayList<>(repeat(enter + 5, CMD_WRITE, LARGE));
        script.addAll(repeat(leave + 3, CMD_READ, 4096));
        ReaderThreads[] readers = new ReaderThreads[1];
        List<Ran> ran = play(script, readers);

        assertThat(ran).hasSize(script.size());
        assertThat(ran).allMatch(Ran::onReader);
        // The first `enter` large writes ran on the virtual thread, without inline I/O.
        assertThat(ran.subList(0, enter)).allMatch(r -> r.virtual() && !r.inlineIo());
        // Then the platform thread, with inline I/O: the rest of the writes and `leave` reads.
        assertThat(ran.subList(enter, enter + 5 + leave)).allMatch(r -> !r.virtual() && r.inlineIo());
        // Then back on the virtual thread.
        assertThat(ran.subList(enter + 5 + leave, ran.size())).allMatch(r -> r.virtual() && !r.inlineIo());
        assertThat(readers[0].switches()).isEqualTo(1);
    }

    @Test
    void aBrokenRunDoesNotMove() throws Exception {
        int enter = ReaderThreads.STREAM_ENTER_REQUESTS;
        List<Req> script = new ArrayList<>();
        for (int round = 0; round < 4; round++) {
            script.addAll(repeat(enter - 1, CMD_WRITE, LARGE));
            script.add(new Req(CMD_WRITE, SMALL)); // below the size: breaks the run
            script.add(new Req(CMD_READ, LARGE)); // large, but not a write
        }
        ReaderThreads[] readers = new ReaderThreads[1];
        List<Ran> ran = play(script, readers);
        assertThat(ran).hasSize(script.size()).allMatch(Ran::virtual);
        assertThat(readers[0].switches()).isZero();
    }

    @Test
    void aLengthAboveTwoGibCountsAsLarge() throws Exception {
        // The wire's length is a u32: 0x8000_0000 and above are negative ints, and still large.
        ReaderThreads[] readers = new ReaderThreads[1];
        List<Ran> ran = play(repeat(ReaderThreads.STREAM_ENTER_REQUESTS + 1, CMD_WRITE, 0x8000_0000), readers);
        assertThat(ran.getLast().virtual()).isFalse();
        assertThat(readers[0].switches()).isEqualTo(1);
    }

    @Test
    void whatTheLoopThrowsOnThePlatformThreadReachesTheCaller() throws Exception {
        assertThat(failureOnStreamingThread(new IOException("socket gone"))).isInstanceOf(IOException.class)
                .hasMessage("socket gone");
        assertThat(failureOnStreamingThread(new IllegalStateException("bug"))).isInstanceOf(IllegalStateException.class)
                .hasMessage("bug");
        assertThat(failureOnStreamingThread(new StackOverflowError("deep"))).isInstanceOf(StackOverflowError.class)
                .hasMessage("deep");
    }

    /** Moves to the platform thread, throws {@code e} there, and returns what {@link ReaderThreads#run} threw. */
    private static Throwable failureOnStreamingThread(Throwable e) throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        AtomicReference<Thread> afterwards = new AtomicReference<>();
        ReaderThreads[] readers = new ReaderThreads[1];
        Thread connection = Thread.ofVirtual().unstarted(() -> {
            try {
                readers[0].run(() -> {
                    if (Thread.currentThread().isVirtual()) {
                        return true; // move at once
                    }
                    switch (e) {
                        case IOException io -> throw io;
                        case RuntimeException re -> throw re;
                        case Error err -> throw err;
                        default -> throw new AssertionError(e);
                    }
                });
            } catch (Throwable t) {
                thrown.set(t);
            }
            // Back on the connection's thread, it is the reader again (the server's end-of-connection work runs here).
            afterwards.set(readers[0].onReader() ? Thread.currentThread() : null);
        });
        readers[0] = new ReaderThreads(connection, "test-stream");
        connection.start();
        connection.join();
        assertThat(afterwards.get()).as("the connection's thread is the reader after the move back").isSameAs(connection);
        return thrown.get();
    }

    @Test
    void runRefusesAnyThreadButTheConnections() {
        ReaderThreads readers = new ReaderThreads(Thread.ofVirtual().unstarted(() -> {}), "test-stream");
        assertThatThrownBy(() -> readers.run(() -> false)).isInstanceOf(IllegalStateException.class)
                .hasMessageStartingWith("run: on ");
    }
}
