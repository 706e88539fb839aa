package dev.cairn.thin;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import dev.cairn.dm.LeafOpener;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetTypes;
import java.time.InstantSource;
import java.util.Iterator;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A submitter and a dm registry whose thin target types are the real ones (found through
 * ServiceLoader), wrapped so that tests can reach the targets they built (to install hooks).
 */
final class ThinStack implements AutoCloseable {
    final Submitter submitter;
    final DeviceRegistry dm;
    final Map<String, Target> targets = new ConcurrentHashMap<>();

    ThinStack(SubmitPolicy policy) {
        this(SubmitterConfig.defaults().withName("t-" + policy.configName()).withPolicy(policy));
    }

    ThinStack(SubmitterConfig config) {
        this(config, InstantSource.system());
    }

    ThinStack(SubmitPolicy policy, InstantSource clock) {
        this(SubmitterConfig.defaults().withName("t-" + policy.configName()).withPolicy(policy), clock);
    }

    ThinStack(SubmitterConfig config, InstantSource clock) {
        this.submitter = Submitter.create(config);
        TargetTypes found = thinTypes();
        TargetTypes types = TargetTypes.of();
        for (String name : new String[] {"thin-pool", "thin"}) {
            TargetType real = found.find(name).orElseThrow(() -> new AssertionError(name + " not found by ServiceLoader"));
            types = types.with(capturing(real));
        }
        // linear, for metadata devices that grow (a pool resized by reloading its metadata device)
        types = types.with(TargetTypes.load(ThinStack.class.getClassLoader()).find("linear")
                .orElseThrow(() -> new AssertionError("linear not found by ServiceLoader")));
        this.dm = new DeviceRegistry(submitter, new RegistryOptions(clock, LeafOpener.fileStore(), types, 1024));
    }

    static TargetTypes thinTypes() {
        TargetTypes types = TargetTypes.of();
        Iterator<TargetType> it = ServiceLoader.load(TargetType.class, ThinStack.class.getClassLoader()).iterator();
        for (int guard = 0; guard < 1000; guard++) {
            try {
                if (!it.hasNext()) {
                    break;
                }
                TargetType t = it.next();
                if (t.getClass().getPackageName().equals(ThinStack.class.getPackageName())) {
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
            public dev.cairn.dm.TargetVersion version() {
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

    Pool pool(String device) {
        Target t = targets.get(device);
        if (t instanceof ThinPoolTarget p) {
            return p.pool();
        }
        throw new AssertionError(device + " is not a pool: " + t);
    }

    String info(String device) throws DmException {
        return oneLine(dm.status(device, StatusType.INFO).text());
    }

    String table(String device) throws DmException {
        return oneLine(dm.status(device, StatusType.TABLE).text());
    }

    /** The status text without its line end (the trailing space of pool lines stays). */
    private static String oneLine(String text) {
        return text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
    }

    String message(String device, String... words) throws DmException {
        return dm.message(device, 0, words);
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
