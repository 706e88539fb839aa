package dev.cairn.rbd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Image management through librbd, for {@code cairn image} ({@code rbd create}, {@code rbd resize},
 * {@code rbd ls} without the rbd tool): the cluster is reached with the spec's conf, user and timeout.
 *
 * <p>Thread safety: stateless; librbd's calls are thread-safe.
 */
public final class RbdImages {
    /** layering, exclusive-lock, object-map, fast-diff, deep-flatten: what {@code rbd create} gives by default. */
    static final long DEFAULT_FEATURES = 1 | 4 | 8 | 16 | 32;

    private RbdImages() {}

    /** Creates {@code spec}'s image with {@code sizeBytes} (4 MiB objects, the default features). */
    public static void create(RbdSpec spec, long sizeBytes) throws IOException {
        if (spec.snapshot() != null) {
            throw new IllegalArgumentException(spec.imageSpec() + " (expected: an image, not a snapshot)");
        }
        withPool(spec, (ioctx, arena) -> {
            MemorySegment order = arena.allocate(ValueLayout.JAVA_INT);
            Librbd.check((int) Librbd.RBD_CREATE2.invokeExact(ioctx, arena.allocateFrom(spec.image()), sizeBytes,
                    DEFAULT_FEATURES, order), "creating " + spec.imageSpec());
            return null;
        });
    }

    /** Resizes {@code spec}'s image to {@code sizeBytes} (shrinking discards the end). */
    public static void resize(RbdSpec spec, long sizeBytes) throws IOException {
        withPool(spec, (ioctx, arena) -> {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Librbd.check((int) Librbd.RBD_OPEN.invokeExact(ioctx, arena.allocateFrom(spec.image()), out, MemorySegment.NULL),
                    "opening " + spec.imageSpec());
            MemorySegment img = out.get(ValueLayout.ADDRESS, 0);
            try {
                Librbd.check((int) Librbd.RBD_RESIZE.invokeExact(img, sizeBytes), "resizing " + spec.imageSpec());
            } finally {
                int ignored = (int) Librbd.RBD_CLOSE.invokeExact(img);
            }
            return null;
        });
    }

    /** The names of the images in {@code spec}'s pool (its image part is ignored), sorted. */
    public static List<String> list(RbdSpec spec) throws IOException {
        return withPool(spec, (ioctx, arena) -> {
            MemorySegment count = arena.allocate(ValueLayout.JAVA_LONG);
            long max = 64;
            while (true) {
                count.set(ValueLayout.JAVA_LONG, 0, max);
                MemorySegment specs = arena.allocate(16 * max, 8);
                int rc = (int) Librbd.RBD_LIST2.invokeExact(ioctx, specs, count);
                if (rc == -34) { // ERANGE: count now holds the number needed
                    max = Math.max(max * 2, count.get(ValueLayout.JAVA_LONG, 0));
                    continue;
                }
                Librbd.check(rc, "listing pool " + spec.pool());
                long n = count.get(ValueLayout.JAVA_LONG, 0);
                List<String> names = new ArrayList<>();
                for (long i = 0; i < n; i++) {
                    MemorySegment name = specs.get(ValueLayout.ADDRESS, i * 16 + 8).reinterpret(Long.MAX_VALUE);
                    names.add(name.getString(0));
                }
                Librbd.RBD_IMAGE_SPEC_LIST_CLEANUP.invokeExact(specs, n);
                names.sort(null);
                return names;
            }
        });
    }

    @FunctionalInterface
    private interface PoolCall<T> {
        T call(MemorySegment ioctx, Arena arena) throws Throwable;
    }

    private static <T> T withPool(RbdSpec spec, PoolCall<T> call) throws IOException {
        RadosCluster cluster = RadosCluster.acquire(spec);
        try {
            MemorySegment ioctx = cluster.pool(spec.pool());
            try (Arena arena = Arena.ofConfined()) {
                return call.call(ioctx, arena);
            } catch (IOException | RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IOException("librbd: " + t, t);
            } finally {
                cluster.releasePool(spec.pool());
            }
        } finally {
            cluster.release();
        }
    }
}
