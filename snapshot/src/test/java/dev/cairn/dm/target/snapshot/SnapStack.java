package dev.cairn.dm.target.snapshot;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.Target;
import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetTypes;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A submitter and a dm registry whose snapshot target types are the real ones (found through
 * ServiceLoader), wrapped so that tests can reach the targets they built (to install hooks).
 */
final class SnapStack implements AutoCloseable {
    final Submitter submitter;
    final DeviceRegistry dm;
    /** The last target each device's table built, by device name. */
    final Map<String, Target> targets = new ConcurrentHashMap<>();

    SnapStack(SubmitPolicy policy) {
        this(SubmitterConfig.defaults().withName("t-" + policy.configName()).withPolicy(policy));
    }

    SnapStack(SubmitterConfig config) {
        this.submitter = Submitter.create(config);
        TargetTypes types = TargetTypes.load();
        for (String name : new String[] {"snapshot", "snapshot-origin", "snapshot-merge"}) {
            TargetType real = types.find(name).orElseThrow(() -> new AssertionError(name + " not found by ServiceLoader"));
            types = types.with(capturing(real));
        }
        this.dm = new DeviceRegistry(submitter, RegistryOptions.defaults().withTargetTypes(types));
    }

    private TargetType capturing(TargetType real) {
        return new TargetType() {
            @Override
            public String name() {
                return real.name();
            }

            @Override
            public Target create(TargetContext ctx, TargetArgs args) throws TableException {
                Target t = real.create(ctx, args);
                targets.put(ctx.deviceName(), t);
                return t;
            }
        };
    }

    void leaf(String name, BlockDevice device) throws DmException {
        dm.addLeaf(name, device);
    }

    MappedDevice create(String name, String table) throws DmException {
        return dm.create(name, table);
    }

    Snapshot snapshot(String device) {
        Target t = targets.get(device);
        if (t instanceof SnapshotTarget s) {
            return s.snapshot();
        }
        if (t instanceof SnapshotMergeTarget m) {
            return m.snapshot();
        }
        throw new AssertionError(device + " is not a snapshot: " + t);
    }

    String info(String device) throws DmException {
        return dm.status(device, StatusType.INFO).text().strip();
    }

    String table(String device) throws DmException {
        return dm.status(device, StatusType.TABLE).text().strip();
    }

    @Override
    public void close() {
        try {
            dm.close();
        } finally {
            submitter.close();
        }
    }
}
