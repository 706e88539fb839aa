package dev.cairn.nbd.server;

import dev.cairn.block.BioEndIo;
import dev.cairn.block.BioStatus;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The pieces of one long WRITE ({@link Connection#WRITE_PIECE_BYTES} each): each piece's bio ends here, its
 * buffer goes back to the pool at once (the device is done with it; the reply carries no data), and when the
 * last piece and the reader are done the request completes like a one-bio write, through
 * {@link Connection#bioDone} (so FUA's flush-after and the error reply work the same).
 *
 * <p>The count starts at one for the reader, which holds it while it is still reading pieces, so the request
 * cannot end between two pieces; {@link #readerDone} drops it. The first error wins.
 *
 * <p>Thread safety: {@link #add}, {@link #fail}, {@link #submitFailed} and {@link #readerDone} run on the
 * reader thread; piece completions on any thread. The count is atomic and the error is set with a
 * compare-and-set; the completion that takes the count to zero reads it after that (happens-before: the
 * count's decrement).
 */
final class WritePieces {
    private final Connection connection;
    private final Request request;
    private final BufferPool pool;
    private final AtomicInteger remaining = new AtomicInteger(1);
    private final AtomicReference<Failure> failure = new AtomicReference<>();

    private record Failure(int errno, String message, BioStatus status) {}

    WritePieces(Connection connection, Request request, BufferPool pool) {
        this.connection = connection;
        this.request = request;
        this.pool = pool;
    }

    /** Counts a piece about to be submitted; its bio's end-io. */
    BioEndIo add(BufferPool.Buffer piece) {
        remaining.incrementAndGet();
        return bio -> {
            pool.release(piece);
            if (!bio.status().isOk()) {
                failure.compareAndSet(null, new Failure(0, null, bio.status()));
            }
            end();
        };
    }

    /** The request fails with {@code errno} (the first failure wins); pieces in flight still complete. */
    void fail(int errno, String message) {
        failure.compareAndSet(null, new Failure(errno, message, BioStatus.IOERR));
    }

    /** Submitting {@code piece}'s bio threw: the device may still hold its buffer, which is never reused. */
    void submitFailed(BufferPool.Buffer piece) {
        pool.abandon(piece);
        fail(dev.cairn.nbd.protocol.NbdConstants.EIO, "device error");
        end();
    }

    /** The reader has submitted every piece it will. */
    void readerDone() {
        end();
    }

    private void end() {
        if (remaining.decrementAndGet() != 0) {
            return;
        }
        Failure f = failure.get();
        if (f != null && f.errno != 0) {
            connection.finish(request.fail(f.errno, f.message));
            return;
        }
        connection.bioDone(request, f == null ? BioStatus.OK : f.status);
    }
}
