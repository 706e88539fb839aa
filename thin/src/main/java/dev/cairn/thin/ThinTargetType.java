package dev.cairn.thin;

import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** {@code thin <pool dev> <dev id> [<external origin dev>]}; see {@link ThinTarget}. */
public final class ThinTargetType implements TargetType {
    /** Cairn's own version of this target; the metadata format is Linux's (dm-thin-pool 1.23.0). */
    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public String name() {
        return "thin";
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        args.expectCount("<pool dev> <dev id> [<external origin dev>]", 2, 3);
        String poolSpec = args.nextDeviceSpec("pool dev");
        long devId = args.nextLong("dev id", 0, ThinMetadata.MAX_DEV_ID);
        String originSpec = args.hasNext() ? args.nextDeviceSpec("external origin dev") : null;
        if (poolSpec.equals(originSpec)) {
            throw args.error("external origin dev", originSpec, "a device other than the pool");
        }
        args.expectEnd();
        DeviceRef poolRef = args.openDevice("pool dev", poolSpec);
        DeviceRef originRef = originSpec == null ? null : args.openDevice("external origin dev", originSpec);
        PoolRegistry registry = ctx.shared(PoolRegistry.KEY, PoolRegistry::new);
        Pool pool = registry.find(poolRef.device());
        if (pool == null) {
            throw args.error("pool dev", poolSpec, "a device with a live thin-pool table");
        }
        try {
            if (pool.mode() == PoolMode.FAIL) {
                throw args.error("pool dev", poolSpec, "a pool not in fail mode");
            }
            try {
                pool.openThin(devId);
            } catch (ThinRequestException e) {
                throw args.error("dev id", devId, "a thin device of the pool (couldn't open thin internal device: "
                        + e.getMessage() + ")");
            }
        } catch (TableException e) {
            registry.release(pool);
            throw e;
        }
        return new ThinTarget(ctx, registry, pool, poolRef, devId, originRef);
    }
}
