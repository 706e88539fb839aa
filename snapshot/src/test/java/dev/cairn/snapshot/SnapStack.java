package dev.cairn.snapshot;

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
import dev.cairn.dm.TargetVersion;
import dev.cairn.dm.TargetTypes;
import java.util.Iterator;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
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
        TargetTypes found = snapshotTypes();
        TargetTypes types = TargetTypes.of();
        for (String name : new String[] {"snapshot", "snapshot-origin", "snapshot-merge"}) {
            TargetType real = found.find(name).orElseThrow(() -> new AssertionError(name + " not found by ServiceLoader"));
            types = types.with(capturing(real));
        }
        // Origins stacked as the cli makes them (ORIGIN-real over a file) need linear.
        types = types.with(new dev.cairn.dm.targets.linear.LinearTargetType());
        // Not RegistryOptions.defaults(): it loads every module's types and fails on another module's broken one.
        this.dm = new DeviceRegistry(submitter, RegistryOptions.defaults().withTargetTypes(types));
    }

    /**
     * This module's target types as ServiceLoader finds them. Other modules' providers are skipped,
     * and a broken one (another module's half-installed jar) does not stop the search.
     */
    static TargetTypes snapshotTypes() {
        TargetTypes types = TargetTypes.of();
        Iterator<TargetType> it = ServiceLoader.load(TargetType.class, SnapStack.class.getClassLoader()).iterator();
        for (int guard = 0; guard < 1000; guard++) {
            try {
                if (!it.hasNext()) {
                    break;
                }
                TargetType t = it.next();
                if (t.getClass().getPackageName().equals(SnapStack.class.getPackageName())) {
                    types = types.with(t);
                }
            } catch (ServiceConfigurationError e) {
                // Not ours: keep looking.
            }
        }
        return types;
    }

    private TargetType capturing(TargetType real) {
        return new TargetType() {
            @Override
            public String name() {
                return real.name();
            }

            @Override
            public TargetVersion version() {
                return real.version();
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
