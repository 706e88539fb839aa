package dev.cairn.daemon;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the daemon remembers about thin pools and thin volumes made by {@code cairn pool create} and
 * {@code cairn thin create} (their devices and exports are in {@link DaemonState}'s lists as every
 * other device's are). It is the {@code thin} member of {@code state.json}, written only when there is
 * a pool:
 * <pre>{@code
 * "thin": {
 *   "pools":   [ { "name": "pool", "metadataFile": "/s/images/pool_tmeta.img", "dataFile": "/s/images/pool_tdata.img",
 *                  "filesManaged": true, "blockSectors": 128, "nextDeviceId": 3, "transactionId": 2,
 *                  "pendingDeletes": [] } ],
 *   "volumes": [ { "name": "vol1", "pool": "pool", "deviceId": 1, "sectors": 2097152, "origin": null,
 *                  "externalOrigin": null, "mergeDeferred": false } ]
 * }
 * }</pre>
 * As LVM keeps its sequence number in the pool, every change of a pool's metadata made by a verb ends
 * with {@code set_transaction_id}, and {@code transactionId} is the id the pool must have once the
 * verb is complete: at start the daemon compares the two (see {@link ThinVolumes}). A file without
 * {@code thin} (older cairn) loads with no pools.
 *
 * @param pools   the pools, in creation order
 * @param volumes the thin volumes and thin snapshots, in creation order
 */
public record ThinState(List<Pool> pools, List<Volume> volumes) {
    public static final ThinState EMPTY = new ThinState(List.of(), List.of());

    public ThinState {
        pools = List.copyOf(pools);
        volumes = List.copyOf(volumes);
    }

    /**
     * A pool.
     *
     * @param filesManaged   the daemon created both files (so removing the pool deletes them)
     * @param nextDeviceId   the allocator: the id the next thin volume or snapshot gets (ids are never reused)
     * @param transactionId  the pool's transaction id once the last verb on it is complete
     * @param pendingDeletes device ids the pool must not have (left by an interrupted verb); the next
     *                       start deletes them and empties the list
     */
    public record Pool(String name, String metadataFile, String dataFile, boolean filesManaged, long blockSectors,
                       long nextDeviceId, long transactionId, List<Long> pendingDeletes) {
        public Pool {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(metadataFile, "metadataFile");
            Objects.requireNonNull(dataFile, "dataFile");
            pendingDeletes = List.copyOf(pendingDeletes);
        }

        Pool withNextDeviceId(long value) {
            return new Pool(name, metadataFile, dataFile, filesManaged, blockSectors, value, transactionId, pendingDeletes);
        }

        Pool withTransactionId(long value) {
            return new Pool(name, metadataFile, dataFile, filesManaged, blockSectors, nextDeviceId, value, pendingDeletes);
        }

        Pool withPendingDeletes(List<Long> value) {
            return new Pool(name, metadataFile, dataFile, filesManaged, blockSectors, nextDeviceId, transactionId, value);
        }
    }

    /**
     * A thin volume, or a thin snapshot when {@code origin} is set.
     *
     * @param deviceId       its id in the pool's metadata
     * @param sectors        its virtual size
     * @param origin         the thin volume it is a snapshot of (null: not a snapshot, or its origin was removed)
     * @param externalOrigin the read-only device its unprovisioned blocks show (null: none)
     * @param mergeDeferred  {@code snapshot merge --defer} was asked: it merges once nothing has it or its origin open
     */
    public record Volume(String name, String pool, long deviceId, long sectors, String origin, String externalOrigin,
                         boolean mergeDeferred) {
        public Volume {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(pool, "pool");
        }

        Volume withOrigin(String value) {
            return new Volume(name, pool, deviceId, sectors, value, externalOrigin, mergeDeferred);
        }

        Volume withDeviceId(long value) {
            return new Volume(name, pool, value, sectors, origin, externalOrigin, mergeDeferred);
        }

        Volume withMergeDeferred(boolean value) {
            return new Volume(name, pool, deviceId, sectors, origin, externalOrigin, value);
        }
    }

    public boolean isEmpty() {
        return pools.isEmpty() && volumes.isEmpty();
    }

    public Pool pool(String name) {
        return pools.stream().filter(p -> p.name().equals(name)).findFirst().orElse(null);
    }

    public Volume volume(String name) {
        return volumes.stream().filter(v -> v.name().equals(name)).findFirst().orElse(null);
    }

    public List<Volume> volumesOf(String pool) {
        return volumes.stream().filter(v -> v.pool().equals(pool)).toList();
    }

    /** The device ids the volumes of {@code pool} use. */
    public Set<Long> deviceIds(String pool) {
        Set<Long> ids = new TreeSet<>();
        volumesOf(pool).forEach(v -> ids.add(v.deviceId()));
        return ids;
    }

    public ThinState withPool(Pool pool) {
        List<Pool> list = new ArrayList<>(pools);
        int i = indexOf(list.stream().map(Pool::name).toList(), pool.name());
        if (i >= 0) {
            list.set(i, pool);
        } else {
            list.add(pool);
        }
        return new ThinState(list, volumes);
    }

    public ThinState withoutPool(String name) {
        return new ThinState(pools.stream().filter(p -> !p.name().equals(name)).toList(), volumes);
    }

    public ThinState withVolume(Volume volume) {
        List<Volume> list = new ArrayList<>(volumes);
        int i = indexOf(list.stream().map(Volume::name).toList(), volume.name());
        if (i >= 0) {
            list.set(i, volume);
        } else {
            list.add(volume);
        }
        return new ThinState(pools, list);
    }

    public ThinState withoutVolume(String name) {
        return new ThinState(pools, volumes.stream().filter(v -> !v.name().equals(name)).toList());
    }

    private static int indexOf(List<String> names, String name) {
        return names.indexOf(name);
    }

    // ------------------------------------------------------------------ JSON

    Map<String, Object> toJson() {
        List<Object> ps = new ArrayList<>();
        for (Pool p : pools) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("name", p.name());
            o.put("metadataFile", p.metadataFile());
            o.put("dataFile", p.dataFile());
            o.put("filesManaged", p.filesManaged());
            o.put("blockSectors", p.blockSectors());
            o.put("nextDeviceId", p.nextDeviceId());
            o.put("transactionId", p.transactionId());
            o.put("pendingDeletes", new ArrayList<Object>(p.pendingDeletes()));
            ps.add(o);
        }
        List<Object> vs = new ArrayList<>();
        for (Volume v : volumes) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("name", v.name());
            o.put("pool", v.pool());
            o.put("deviceId", v.deviceId());
            o.put("sectors", v.sectors());
            o.put("origin", v.origin());
            o.put("externalOrigin", v.externalOrigin());
            o.put("mergeDeferred", v.mergeDeferred());
            vs.add(o);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pools", ps);
        m.put("volumes", vs);
        return m;
    }

    static ThinState fromJson(DaemonState.Fields f) {
        List<Pool> pools = new ArrayList<>();
        for (DaemonState.Fields p : f.objects("pools")) {
            pools.add(new Pool(p.string("name"), p.string("metadataFile"), p.string("dataFile"), p.bool("filesManaged"),
                    p.number("blockSectors"), p.number("nextDeviceId"), p.number("transactionId"), p.numbers("pendingDeletes")));
        }
        List<Volume> volumes = new ArrayList<>();
        for (DaemonState.Fields v : f.objects("volumes")) {
            volumes.add(new Volume(v.string("name"), v.string("pool"), v.number("deviceId"), v.number("sectors"),
                    v.optString("origin"), v.optString("externalOrigin"), v.optBool("mergeDeferred")));
        }
        Set<String> seen = new java.util.HashSet<>();
        for (String n : pools.stream().map(Pool::name).toList()) {
            if (!seen.add(n)) {
                throw new IllegalArgumentException("thin.pools: \"" + n + "\" appears twice (expected: unique names)");
            }
        }
        for (Volume v : volumes) {
            if (!seen.add(v.name())) {
                throw new IllegalArgumentException("thin.volumes: \"" + v.name() + "\" appears twice (expected: unique names)");
            }
        }
        return new ThinState(pools, volumes);
    }
}
