package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BlockDevice;
import dev.cairn.testkit.ForwardingDevice;
import java.util.SplittableRandom;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A device that completes reads later, on its own threads, after a random delay of up to
 * {@code maxDelayMicros} (like a disk), so that snapshot reads stay tracked long enough to race
 * with {@code pendingComplete}. Writes go through at once.
 */
final class SlowDevice extends ForwardingDevice implements AutoCloseable {
    private final int maxDelayMicros;
    private final ScheduledExecutorService executor;
    private final SplittableRandom random;

    SlowDevice(BlockDevice lower, int maxDelayMicros, long seed) {
        super(lower);
        this.maxDelayMicros = maxDelayMicros;
        this.random = new SplittableRandom(seed);
        ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(2, r -> {
            Thread t = new Thread(r, "slow-" + lower.name());
            t.setDaemon(true);
            return t;
        });
        this.executor = e;
    }

    @Override
    public void submitBio(Bio bio) {
        if (bio.op() != BioOp.READ) {
            lower().submitBio(bio);
            return;
        }
        long delay;
        synchronized (random) {
            delay = random.nextInt(maxDelayMicros + 1);
        }
        executor.schedule(() -> lower().submitBio(bio), delay, TimeUnit.MICROSECONDS);
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
