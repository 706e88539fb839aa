package dev.cairn.dm.targets.logwrites;

import dev.cairn.block.BlockDevice;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.SharedKey;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;
import java.io.IOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** {@code log-writes <dev> <log dev>}: passes I/O to {@code dev} and logs every write, in the order it became durable. */
public final class LogWritesTargetType implements TargetType {
    /** Key of the registry-wide set of log devices that a live log-writes target is writing. */
    /** The log devices live log-writes tables write, one registry-wide set. */
    static final class LogsInUse {
        final Set<BlockDevice> devices = ConcurrentHashMap.newKeySet();
    }

    static final SharedKey<LogsInUse> LOGS_IN_USE = SharedKey.of("log-writes logs in use", LogsInUse.class);

    /** Cairn's own version of this target (Linux's dm-log-writes is 1.1.0; the format is the same). */
    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public String name() {
        return "log-writes";
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        LogWritesConfig config = LogWritesConfig.parse(args);
        DeviceRef dev = args.openDevice("dev", config.device());
        DeviceRef log = args.openDevice("log dev", config.logDevice());
        int sectorsize = dev.device().limits().logicalBlockBytes();
        int logBlock = log.device().limits().logicalBlockBytes();
        if (logBlock > sectorsize) {
            throw args.error("log dev", config.logDevice() + " with " + logBlock + "-byte blocks",
                    "blocks no larger than the data device's " + sectorsize + " bytes (the log is written in those)");
        }
        if (log.device().limits().readOnly()) {
            throw args.error("log dev", config.logDevice(), "a writable device");
        }
        if (log.capacitySectors() < 2L * (sectorsize >>> 9)) {
            throw args.error("log dev", config.logDevice() + " of " + log.capacitySectors() + " sectors",
                    "room for the super block and one entry (" + 2 * sectorsize + " bytes)");
        }
        // Two tables writing one log (a reload naming the live table's log) would interleave entries
        // from sector 1 on: refused, with nothing changed.
        Set<BlockDevice> inUse = ctx.shared(LOGS_IN_USE, LogsInUse::new).devices;
        if (!inUse.add(log.device())) {
            throw args.error("log dev", config.logDevice(),
                    "a log device no other log-writes table is writing (remove that device first)");
        }
        LogWritesTarget target = new LogWritesTarget(ctx, config, dev, log, () -> inUse.remove(log.device()));
        try {
            target.writeInitialSuper();
        } catch (IOException | RuntimeException e) {
            inUse.remove(log.device());
            throw args.error("log dev", config.logDevice(), "a device the super block can be written to: " + e.getMessage());
        }
        target.start();
        return target;
    }
}
