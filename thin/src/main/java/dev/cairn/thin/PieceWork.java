package dev.cairn.thin;

import dev.cairn.block.BioStatus;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A step of the pool's worker for one bio piece (Linux's deferred bio, and the cell it holds).
 *
 * <p>The piece belongs to the step until the step hands it on: submits or completes it, detains it in a
 * cell, queues it for space, or starts a copy or a drain whose continuation carries it on (each such
 * place calls {@link Pool#handedOff()} first). When the step throws before that, the worker ends the piece
 * with an error through {@link #end} and releases the cell the step held (see {@link Pool#holding}), so
 * every piece completes exactly once and no cell outlives its step.
 *
 * <p>Thread safety: created on any thread and published through the pool's work queue (a happens-before
 * edge); after that only the worker thread touches it.
 */
final class PieceWork implements Runnable {
    final String what;
    private final Runnable body;
    private final Consumer<BioStatus> end;
    /** The cell this step holds, released if the step fails; worker only. */
    Prison.Cell cell;
    /** The piece was handed on: a failure of the step no longer owns it; worker only. */
    boolean handedOff;

    /**
     * @param what what the step does, for logs
     * @param end  ends the piece with a status ({@code clone::complete}, or {@code TargetIo::finish} for a
     *             piece whose clone has already ended)
     * @param cell the cell the step starts with (a continuation of work that held it), or null
     */
    PieceWork(String what, Consumer<BioStatus> end, Prison.Cell cell, Runnable body) {
        this.what = Objects.requireNonNull(what, "what");
        this.end = Objects.requireNonNull(end, "end");
        this.cell = cell;
        this.body = Objects.requireNonNull(body, "body");
    }

    @Override
    public void run() {
        body.run();
    }

    /** Ends the piece with {@code status} (the failure path). */
    void end(BioStatus status) {
        end.accept(status);
    }

    @Override
    public String toString() {
        return "PieceWork[" + what + (cell == null ? "" : " " + cell.key) + (handedOff ? ", handed off" : "") + "]";
    }
}
