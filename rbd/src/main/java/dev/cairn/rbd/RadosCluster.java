package dev.cairn.rbd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * One connected {@code rados_t} per (config file, user, I/O timeout), shared by every image opened with
 * it and shut down when the last one closes; pool I/O contexts are shared the same way.
 *
 * <p>Thread safety: the registry of clusters and each cluster's pool map are guarded by the class lock;
 * connecting happens under it too (a first open per cluster waits for the monitors, later opens do not).
 */
final class RadosCluster {
    private static final Map<String, RadosCluster> CLUSTERS = new HashMap<>();

    private final String key;
    private final MemorySegment handle;
    private final Map<String, Pool> pools = new HashMap<>();
    private int refs;

    private record Pool(MemorySegment ioctx, int[] refs) {}

    private RadosCluster(String key, MemorySegment handle) {
        this.key = key;
        this.handle = handle;
    }

    /** The cluster for {@code spec}, connected, with one more reference. */
    static synchronized RadosCluster acquire(RbdSpec spec) throws IOException {
        RadosCluster c = CLUSTERS.get(spec.clusterKey());
        if (c == null) {
            c = new RadosCluster(spec.clusterKey(), connect(spec));
            CLUSTERS.put(c.key, c);
        }
        c.refs++;
        return c;
    }

    private static MemorySegment connect(RbdSpec spec) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Librbd.check((int) Librbd.RADOS_CREATE2.invokeExact(out, arena.allocateFrom("ceph"),
                    arena.allocateFrom("client." + spec.user()), 0L), "rados_create2");
            MemorySegment h = out.get(ValueLayout.ADDRESS, 0);
            try {
                MemorySegment path = spec.conf() == null ? MemorySegment.NULL : arena.allocateFrom(spec.conf().toString());
                Librbd.check((int) Librbd.RADOS_CONF_READ_FILE.invokeExact(h, path),
                        "reading " + (spec.conf() == null ? "the default ceph.conf" : spec.conf()));
                String seconds = Long.toString(spec.ioTimeout().toSeconds());
                for (String opt : new String[] {"rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"}) {
                    String value = opt.equals("client_mount_timeout") && spec.ioTimeout().isZero() ? "300" : seconds;
                    Librbd.check((int) Librbd.RADOS_CONF_SET.invokeExact(h, arena.allocateFrom(opt), arena.allocateFrom(value)),
                            "setting " + opt);
                }
                Librbd.check((int) Librbd.RADOS_CONNECT.invokeExact(h), "connecting to the cluster as client." + spec.user());
                return h;
            } catch (IOException | RuntimeException | Error e) {
                Librbd.RADOS_SHUTDOWN.invokeExact(h);
                throw e;
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("librados: " + t, t);
        }
    }

    /** An I/O context on {@code pool}, with one more reference; give it back with {@link #releasePool}. */
    MemorySegment pool(String pool) throws IOException {
        synchronized (RadosCluster.class) {
            Pool p = pools.get(pool);
            if (p == null) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                    Librbd.check((int) Librbd.RADOS_IOCTX_CREATE.invokeExact(handle, arena.allocateFrom(pool), out), "pool " + pool);
                    p = new Pool(out.get(ValueLayout.ADDRESS, 0), new int[1]);
                    pools.put(pool, p);
                } catch (IOException | RuntimeException | Error e) {
                    throw e;
                } catch (Throwable t) {
                    throw new IOException("librados: " + t, t);
                }
            }
            p.refs()[0]++;
            return p.ioctx();
        }
    }

    void releasePool(String pool) {
        synchronized (RadosCluster.class) {
            Pool p = pools.get(pool);
            if (p != null && --p.refs()[0] == 0) {
                pools.remove(pool);
                try {
                    Librbd.RADOS_IOCTX_DESTROY.invokeExact(p.ioctx());
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
            }
        }
    }

    /** Drops a reference; the last one shuts the cluster handle down. */
    void release() {
        synchronized (RadosCluster.class) {
            if (--refs == 0) {
                CLUSTERS.remove(key);
                try {
                    Librbd.RADOS_SHUTDOWN.invokeExact(handle);
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
            }
        }
    }
}
