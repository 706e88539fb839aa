package dev.cairn.dm;

import dev.cairn.block.BioStatus;
import java.util.Objects;

/**
 * What {@link Target#map} did with a clone (Linux {@code DM_MAPIO_*}, as a sealed type so ownership
 * is always explicit).
 *
 * <ul>
 *   <li>{@link Remapped}: the target changed the clone's device (and usually its sector); dm core
 *       submits it. The clone's completion runs {@link Target#endIo}.</li>
 *   <li>{@link Submitted}: the target took ownership; it submits or completes the clone itself, now
 *       or later from any thread. Completing the clone still runs {@link Target#endIo}.</li>
 *   <li>{@link Kill}: fail this piece with an error; dm core ends the clone without calling
 *       {@code endIo}.</li>
 *   <li>{@link Requeue}: the target cannot take the I/O now; dm core holds the original bio and
 *       replays it after the next resume (or at once, from dm's worker, when the device is not
 *       suspending). {@code endIo} is not called.</li>
 * </ul>
 */
public sealed interface MapResult {
    Remapped REMAPPED = new Remapped();
    Submitted SUBMITTED = new Submitted();
    Requeue REQUEUE = new Requeue();

    /** A {@link Kill} with {@code status}, which must be an error. */
    static Kill kill(BioStatus status) {
        return new Kill(status);
    }

    record Remapped() implements MapResult {}

    record Submitted() implements MapResult {}

    record Kill(BioStatus status) implements MapResult {
        public Kill {
            Objects.requireNonNull(status, "status");
            if (status.isOk()) {
                throw new IllegalArgumentException("status: OK (expected: an error)");
            }
        }
    }

    record Requeue() implements MapResult {}
}
