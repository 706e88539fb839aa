package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The suspend gate under Lincheck's model checker: every interleaving (bounded) of bios entering and leaving
 * with suspends and resumes. It checks the gate's two promises: a drain never returns while an admitted bio
 * is still inside (the Dekker pair of count and gate), and every bio is admitted exactly once, at once or by
 * the replay (none lost, none doubled); and Lincheck itself reports a drain that never wakes (a deadlock).
 */
class SuspendGateLincheckTest {

    /**
     * Threads submit bios while suspends and resumes run one at a time (Lincheck's non-parallel group stands
     * for the device's control mutex: a spinning mutex in the scenario itself is reported as a livelock).
     */
    public static class SubmitSuspendResume {
        /** More than any scenario submits (threads x actors plus before and after). */
        private static final int MAX_BIOS = 64;
        // No watchdog: the model checker would have to schedule its thread too.
        private final Submitter submitter = Submitter.create(
                SubmitterConfig.defaults().withName("lincheck-gate").withWatchdog(null, r -> { }));
        private final SuspendGate gate = new SuspendGate(submitter, "lincheck");
        /** Admitted bios between their admission and their exit. */
        private final AtomicInteger inside = new AtomicInteger();
        /** Bios submitted so far; each carries its number as private data. */
        private final AtomicInteger submitted = new AtomicInteger();
        /** How often each bio was admitted, by number (plain arrays: a hash map's resize loop reads as a livelock). */
        private final AtomicIntegerArray admissions = new AtomicIntegerArray(MAX_BIOS);
        private volatile boolean suspended; // written by the control group only

        @Operation
        public void submit() {
            Bio bio = Bio.alloc().setPrivateData(submitted.getAndIncrement());
            pass(bio);
        }

        /** What the device does with a bio: admitted ones are mapped (here: counted) and finish. */
        private void pass(Bio bio) {
            switch (gate.enter(bio)) {
                case ADMITTED -> {
                    inside.incrementAndGet();
                    admissions.incrementAndGet(bio.<Integer>privateData());
                    inside.decrementAndGet();
                    gate.exit();
                }
                case HELD -> { }
                case DEAD -> throw new AssertionError("the gate was never killed");
            }
        }

        @Operation(nonParallelGroup = "control")
        public void suspend() {
            if (!suspended) {
                gate.closeAndDrain();
                if (inside.get() != 0) {
                    throw new AssertionError("drained with " + inside.get() + " admitted bio(s) inside");
                }
                suspended = true;
            }
        }

        @Operation(nonParallelGroup = "control")
        public void resume() {
            if (suspended) {
                suspended = false;
                // as the device does: a replayed bio is submitted again, on the replaying thread
                gate.openAndReplay(this::pass);
            }
        }

        @Validate
        public void everyBioAdmittedOnceOrHeld() {
            int held = gate.heldCount();
            int notYet = 0;
            for (int i = 0; i < submitted.get(); i++) {
                int n = admissions.get(i);
                if (n > 1) {
                    throw new AssertionError("bio " + i + " was admitted " + n + " times");
                }
                if (n == 0) {
                    notYet++;
                }
            }
            if (notYet != held) {
                throw new AssertionError(notYet + " bio(s) never admitted, " + held + " held");
            }
            if (!suspended && held != 0) {
                throw new AssertionError(held + " bio(s) held by an open gate");
            }
            if (gate.stats().inFlightBios() != 0) {
                throw new AssertionError(gate.stats().inFlightBios() + " counted in flight after every bio finished");
            }
        }
    }

    @Test
    @Timeout(300)
    void noBioIsLostDoubledOrInsideADrainedGate() {
        new ModelCheckingOptions().threads(3).actorsPerThread(3).actorsBefore(1).actorsAfter(1)
                .iterations(20).invocationsPerIteration(300).check(SubmitSuspendResume.class);
    }
}
