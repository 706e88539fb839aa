package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** An abort of a suspend's drain takes effect from the moment the gate closes, not only once the wait began. */
class SuspendGateAbortTest {
    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final SuspendGate gate = new SuspendGate(submitter, "abort");

    @AfterEach
    void close() {
        submitter.close();
    }

    @Test
    void anAbortBetweenCloseAndTheWaitIsNotLost() {
        assertThat(gate.enter(Bio.alloc())).isEqualTo(SuspendGate.Admission.ADMITTED); // one bio stays in flight
        gate.close();
        assertThat(gate.abortDrain()).as("a drain is pending from close on").isTrue();
        // Before the fix the abort found no waiting drain and this waited out its timeout.
        assertThat(gate.awaitDrain(Duration.ofSeconds(30))).isEqualTo(SuspendGate.Drain.ABORTED);
        assertThat(gate.isDrainWaiting()).isFalse();
        assertThat(gate.abortDrain()).as("nothing to abort once the drain ended").isFalse();
        gate.openAndReplay(b -> { });
        gate.exit();
    }

    @Test
    void aDrainWithNothingInFlightEndsAtOnceAndClearsTheWait() {
        gate.close();
        assertThat(gate.awaitDrain(null)).isEqualTo(SuspendGate.Drain.DRAINED);
        assertThat(gate.isDrainWaiting()).isFalse();
    }
}
