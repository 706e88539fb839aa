package dev.cairn.nbd.server;

import dev.cairn.block.Bio;
import dev.cairn.block.BioEndIo;
import dev.cairn.block.BioStatus;
import dev.cairn.nbd.protocol.NbdConstants;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The pieces of one long WRITE ({@link RequestHandlers#WRITE_PIECE_BYTES} each): each piece's bio ends here, its
 * buffer goes back to the pool at once (the device is done with it; the reply carries no data), and when the
 * last piece and the reader are done the request completes like a one-bio write, through
 * {@link RequestHandlers#bioDone} (so FUA's flush-after and the error reply work the same).
 *
 * <p>The count starts at one for the reader, which holds it while it is still reading pieces, so the request
 * cannot end between two pieces; {@link #readerDone} drops it. The first error wins.
 *
 * <p>Thread safety: {@link #add}, {@link #fail}, {@link Piece#submitFailed} and {@link #readerDone} run on
 * the reader thread; piece completions on any thread. The count is atomic and the error is set with a
 * compare-and-set; the completion that takes the count to zero reads it after that (happens-before: the
 * count's decrement).
 */
final class WritePieces {
    private final RequestHandlers handlers;
    private final Request request;
    private final BufferPool pool;
    private final AtomicInteger remaining = new AtomicInteger(1);
    private final AtomicReference<Failure> failure = new AtomicReference<>();

    private record Failure(int errno, String message, BioStatus status) {}

    WritePieces(RequestHandlers handlers, Request request, BufferPool pool) {
        this.handlers = handlers;
        this.request = request;
        this.pool = pool;
    }

    /** Counts a piece about to be submitted; the result is its bio's end-io. */
    Piece add(BufferPool.Buffer buffer) {
        remaining.incrementAndGet();
        return new Piece(buffer);
    }

    /**
     * One piece's end: its buffer goes back (or, when the device threw while owning it, is abandoned) and
     * the count goes down, once, however many times the device reports it (a device that throws may also
     * complete the bio).
     */
    final class Piece implements BioEndIo {
        private final BufferPool.Buffer buffer;
        private final AtomicBoolean ended = new AtomicBoolean();

        private Piece(BufferPool.Buffer buffer) {
            this.buffer = buffer;
        }

        @Override
        public void endIo(Bio bio) {
            if (!ended.compareAndSet(false, true)) {
                return;
            }
            pool.release(buffer);
            if (!bio.status().isOk()) {
                failure.compareAndSet(null, new Failure(0, null, bio.status()));
            }
            end();
        }

        /** Submitting this piece's bio threw: the device may still hold the buffer, which is never reused. */
        void submitFailed() {
            if (!ended.compareAndSet(false, true)) {
                return;
            }
            pool.abandon(buffer);
            fail(NbdConstants.EIO, "device error");
            end();
        }
    }

    /** The request fails with {@code errno} (the first failure wins); pieces in flight still complete. */
    void fail(int errno, String message) {
        failure.compareAndSet(null, new Failure(errno, message, BioStatus.IOERR));
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
            handlers.finish(request.fail(f.errno, f.message));
            return;
        }
        handlers.bioDone(request, f == null ? BioStatus.OK : f.status);
    }
}
