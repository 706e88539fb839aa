package dev.cairn.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.testkit.Poll;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The test device's hold/release contract, which other tests rely on: once {@link TestDevice#heldCount()}
 * reports a bio, {@link TestDevice#releaseHeld()} lets it go. The first {@code bin/test} on a fresh clone
 * once hung in {@code TransmissionTest} because the count came before the bio was queued: a release in
 * between drained an empty queue and the bio stayed held for ever.
 */
class TestDeviceTest {
    @Test
    void aReleaseThatRunsWhileABioIsBeingHeldStillLetsItGo() throws Exception {
        TestDevice device = new TestDevice("held", 1 << 20);
        device.holdIf(b -> true);
        Thread[] releaser = new Thread[1];
        // Runs inside the hold, on the submitting thread: the release starts there and either finishes
        // (nothing may then be left held) or waits for the hold to end; the hook returns only then.
        device.onHold = b -> {
            releaser[0] = Thread.ofPlatform().start(device::releaseHeld);
            try {
                Poll.until(() -> !releaser[0].isAlive() || releaser[0].getState() == Thread.State.BLOCKED
                        || releaser[0].getState() == Thread.State.WAITING, Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        CompletableFuture<Void> done = new CompletableFuture<>();
        Bio bio = Bio.alloc().setDevice(device).setOp(BioOp.READ).setSector(0)
                .setData(MemorySegment.ofArray(new byte[4096])).setEndIo(b -> done.complete(null));
        device.submitBio(bio);
        releaser[0].join();
        assertThat(Poll.until(done::isDone, Duration.ofSeconds(5)))
                .as("the bio held while the release ran is released").isTrue();
        assertThat(device.heldCount()).isZero();
    }
}
