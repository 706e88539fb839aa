package dev.cairn.thin;

import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;
import dev.cairn.pdata.MetadataException;

/**
 * {@code thin-pool <metadata dev> <data dev> <data block sectors> <low water mark> [<#features>
 * skip_block_zeroing ignore_discard no_discard_passdown read_only error_if_no_space]}; see
 * {@link ThinPoolTarget}.
 */
public final class ThinPoolTargetType implements TargetType {
    /** Cairn's own version of this target; the metadata format is Linux's (dm-thin-pool 1.23.0). */
    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public String name() {
        return "thin-pool";
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        args.expectAtLeast(4, "<metadata dev> <data dev> <data block sectors> <low water mark> [<#features> <feature>...]");
        String metaSpec = args.nextDeviceSpec("metadata dev");
        String dataSpec = args.nextDeviceSpec("data dev");
        if (metaSpec.equals(dataSpec)) {
            throw args.error("data dev", dataSpec, "a device other than the metadata device");
        }
        long bs = args.nextLong("data block sectors", PoolConfig.MIN_BLOCK_SECTORS, PoolConfig.MAX_BLOCK_SECTORS);
        if (bs % PoolConfig.MIN_BLOCK_SECTORS != 0) {
            throw args.error("data block sectors", bs, "a multiple of 128 from 128 to 2097152");
        }
        long lowWater = args.nextLong("low water mark", 0, Long.MAX_VALUE);
        TargetArgs f = args.nextFeatures("#features", 4);
        boolean skipZero = false;
        boolean ignoreDiscard = false;
        boolean noPassdown = false;
        boolean readOnly = false;
        boolean errorIfNoSpace = false;
        while (f.hasNext()) {
            switch (f.nextKeyword("feature", "skip_block_zeroing", "ignore_discard", "no_discard_passdown", "read_only",
                    "error_if_no_space")) {
                case "skip_block_zeroing" -> skipZero = true;
                case "ignore_discard" -> ignoreDiscard = true;
                case "no_discard_passdown" -> noPassdown = true;
                case "read_only" -> readOnly = true;
                default -> errorIfNoSpace = true;
            }
        }
        args.expectEnd();
        PoolConfig config = new PoolConfig(metaSpec, dataSpec, (int) bs, lowWater, skipZero, ignoreDiscard, noPassdown,
                readOnly, errorIfNoSpace);
        DeviceRef meta = args.openDevice("metadata dev", metaSpec);
        DeviceRef data = args.openDevice("data dev", dataSpec);
        if (ctx.lengthSectors() < bs) {
            throw args.error("length", ctx.lengthSectors() + " sectors", "at least one data block (" + bs + " sectors)");
        }
        PoolRegistry registry = ctx.shared(PoolRegistry.KEY, PoolRegistry::new);
        long nrBlocks = ctx.lengthSectors() / bs;
        Pool pool = registry.acquire(ctx.mappedDevice(), () -> {
            try {
                return new Pool(ctx.deviceName(), ctx.submitter(), ctx.clock(), meta.device(), data.device(), config, nrBlocks);
            } catch (MetadataException e) {
                throw args.error("metadata dev", metaSpec, "usable thin metadata: " + e.getMessage());
            }
        });
        try {
            if (pool.metadataDevice != meta.device() || pool.dataDevice != data.device()) {
                throw args.error("different pool cannot replace a pool (expected: the same metadata and data devices)");
            }
            if (pool.blockSectors != bs) {
                throw args.error("data block sectors", bs, "the pool's " + pool.blockSectors
                        + " (changing the data block size is not supported)");
            }
            if (pool.config().ignoreDiscard() != ignoreDiscard) {
                throw args.error("ignore_discard cannot be changed after the pool was first loaded");
            }
        } catch (TableException e) {
            registry.release(pool);
            throw e;
        }
        return new ThinPoolTarget(ctx, registry, pool, config, meta, data);
    }
}
