package dev.cairn.thin;

import dev.cairn.block.Bio;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;

/**
 * The {@code thin-pool} target (Linux {@code pool_ctr}, {@code pool_map}, {@code pool_status},
 * {@code pool_message}): I/O to the pool device itself goes linearly to the data device; messages
 * manage thin devices; status reports space and mode; a resume after a reload with larger devices
 * grows the pool.
 *
 * <p>Thread safety: {@code map} is stateless; the control calls come from dm core one at a time and
 * delegate to the thread-safe {@link Pool}.
 */
final class ThinPoolTarget implements Target {
    private final TargetContext ctx;
    private final PoolRegistry registry;
    private final Pool pool;
    private final PoolConfig config;
    private final DeviceRef metadataRef;
    private final DeviceRef dataRef;

    ThinPoolTarget(TargetContext ctx, PoolRegistry registry, Pool pool, PoolConfig config, DeviceRef metadataRef,
            DeviceRef dataRef) {
        this.ctx = ctx;
        this.registry = registry;
        this.pool = pool;
        this.config = config;
        this.metadataRef = metadataRef;
        this.dataRef = dataRef;
    }

    Pool pool() {
        return pool;
    }

    @Override
    public MapResult map(Bio clone) {
        clone.setDevice(dataRef.device()).setSector(ctx.targetOffset(clone.sector()));
        return MapResult.REMAPPED;
    }

    @Override
    public String statusInfo() {
        return pool.statusInfo();
    }

    @Override
    public String statusTable() {
        return config.statusTable();
    }

    @Override
    public String message(String... args) throws DmException {
        return pool.message(args);
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        visitor.visit(metadataRef, 0, metadataRef.capacitySectors());
        visitor.visit(dataRef, 0, dataRef.capacitySectors());
    }

    @Override
    public void preresume() throws DmException {
        pool.setConfig(config);
        pool.setEventSink(ctx::triggerEvent);
        pool.resize(ctx.lengthSectors() / config.blockSectors());
    }

    @Override
    public void resume() {
        pool.resumed();
    }

    @Override
    public void postsuspend() {
        pool.commit();
    }

    @Override
    public void close() {
        registry.release(pool);
    }
}
