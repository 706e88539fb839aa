package dev.cairn.snapshot;

import dev.cairn.block.BlockDevice;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Construction shared by {@code snapshot} and {@code snapshot-merge} (Linux {@code snapshot_ctr}):
 * opens the devices, builds and loads the exception store, registers with the origin.
 */
final class SnapshotTargets {
    /** Copies in flight per snapshot (Linux bounds them per kcopyd client by its reserved pages). */
    static final int MAX_COPIES_IN_FLIGHT = 64;

    private SnapshotTargets() {}

    static OriginRegistry registry(TargetContext ctx) {
        return ctx.shared(OriginRegistry.SHARED_KEY, () -> new OriginRegistry(ctx.submitter()));
    }

    static Snapshot build(TargetContext ctx, TargetArgs args, Snapshot.Kind kind) throws TableException {
        SnapshotConfig config = SnapshotConfig.parse(args, kind == Snapshot.Kind.MERGE);
        DeviceRef originRef = args.openDevice("origin", config.originSpec());
        DeviceRef cowRef = args.openDevice("cow", config.cowSpec());
        BlockDevice origin = originRef.device();
        BlockDevice cow = cowRef.device();
        if (origin == cow) {
            throw args.error("cow", config.cowSpec(), "a device other than the origin");
        }
        OriginRegistry registry = registry(ctx);
        if (!registry.sharingCow(origin, cow).isEmpty()) {
            throw args.error("cow", config.cowSpec(), "a COW device no other loaded snapshot of this origin uses"
                    + " (Cairn does not hand exceptions over between tables: remove the old snapshot first)");
        }
        int originBlockBytes = origin.limits().logicalBlockBytes();
        ExceptionStore store;
        try {
            store = config.store().persistent()
                    ? new PersistentExceptionStore(ctx.submitter(), cow, config.chunkSectors(),
                            config.store() == SnapshotConfig.StoreType.PO, originBlockBytes, origin.capacitySectors())
                    : new TransientExceptionStore(cow, config.chunkSectors(), originBlockBytes);
        } catch (IllegalArgumentException e) {
            throw args.error(e.getMessage());
        }
        Map<Long, Long> loaded = new LinkedHashMap<>();
        ExceptionStore.LoadResult result;
        try {
            result = store.readMetadata(loaded::put);
        } catch (CowFormatException e) {
            throw args.error("cow: " + e.getMessage());
        } catch (IOException e) {
            throw args.error("cow: failed to read snapshot metadata: " + e.getMessage());
        }
        if (store.chunkSectors() == 0) {
            throw args.error("chunk_sectors", 0, "a power of two: a transient (N) store has no header to take it from");
        }
        if (result == ExceptionStore.LoadResult.INVALID) {
            System.getLogger(SnapshotTargets.class.getName()).log(System.Logger.Level.WARNING,
                    "{0}: snapshot is marked invalid", ctx);
        }
        return Snapshot.create(kind, ctx, registry, originRef, cowRef, store, config.discardZeroesCow(),
                config.discardPassdownOrigin(), MAX_COPIES_IN_FLIGHT, loaded, result != ExceptionStore.LoadResult.INVALID);
    }
}
