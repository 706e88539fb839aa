package dev.cairn.dm;

import dev.cairn.block.BioStatus;
import java.util.Objects;

/**
 * What {@link Target#endIo} decided about a completed clone (Linux {@code DM_ENDIO_*}).
 *
 * <ul>
 *   <li>{@link Done}: the piece is finished with {@link Done#status()} (which may differ from the
 *       clone's: flakey turns a good read into an error, a mirror may hide a failed leg).</li>
 *   <li>{@link Requeue}: hold the original bio and replay it after resume (as {@link MapResult.Requeue}).</li>
 *   <li>{@link Keep}: the target will finish this piece later by calling {@link TargetIo#finish}
 *       (Linux {@code DM_ENDIO_INCOMPLETE}). The clone itself is gone once {@code endIo} returns.</li>
 * </ul>
 */
public sealed interface EndIoResult {
    Done OK = new Done(BioStatus.OK);
    Requeue REQUEUE = new Requeue();
    Keep KEEP = new Keep();

    /** Finish the piece with {@code status}. */
    static Done done(BioStatus status) {
        return status == BioStatus.OK ? OK : new Done(status);
    }

    record Done(BioStatus status) implements EndIoResult {
        public Done {
            Objects.requireNonNull(status, "status");
        }
    }

    record Requeue() implements EndIoResult {}

    record Keep() implements EndIoResult {}
}
