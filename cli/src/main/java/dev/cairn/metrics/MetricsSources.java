package dev.cairn.metrics;

import dev.cairn.block.Submitter;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.nbd.server.NbdServer;
import java.util.Objects;

/**
 * What the statistics are read from: the daemon's device registry, its NBD server and its submitter
 * (bio sets, watchdog). Nothing here is written to; a daemon hands this out and keeps running as before.
 *
 * <p>Thread safety: immutable; the three objects are each safe to read from any thread.
 */
public record MetricsSources(DeviceRegistry registry, NbdServer nbd, Submitter submitter) {
    public MetricsSources {
        Objects.requireNonNull(registry, "registry");
        Objects.requireNonNull(nbd, "nbd");
        Objects.requireNonNull(submitter, "submitter");
    }
}
