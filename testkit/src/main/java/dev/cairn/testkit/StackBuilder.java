package dev.cairn.testkit;

import dev.cairn.block.BioSet;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.block.store.MemoryStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Builds the pieces of a test stack and tears them down in reverse order, so a test needs one
 * try-with-resources and cannot leak a rescuer, an executor or a file descriptor:
 *
 * <pre>{@code
 * try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK)) {
 *     MemoryStore lower = stack.memoryStore("lower", 64 << 20);
 *     MyTarget top = stack.add(new MyTarget(stack.submitter(), lower));   // closed by the builder if AutoCloseable
 *     Io.writeOk(stack.submitter(), top, 0, Pattern.segment(0, 4096, 1));
 * }   // closes top, the stores, the bio sets, then shuts the submitter down
 * }</pre>
 *
 * <p>The submitter is created first and so closed last; everything registered later is closed before it,
 * newest first. Every close runs even when one fails; the first failure is thrown with the others
 * suppressed.
 *
 * <p>Thread safety: meant for the test's own thread; registration is synchronized so helpers on other
 * threads may register too.
 */
public final class StackBuilder implements AutoCloseable {
    private final Submitter submitter;
    private final Deque<AutoCloseable> resources = new ArrayDeque<>(); // @GuardedBy("this")
    private boolean closed; // @GuardedBy("this")

    private StackBuilder(Submitter submitter) {
        this.submitter = submitter;
        resources.push(submitter);
    }

    /** A stack with a new submitter of {@code policy} and a 10 s watchdog (so a hang is diagnosed in the log). */
    public static StackBuilder create(SubmitPolicy policy) {
        return create(SubmitterConfig.defaults().withName("test").withPolicy(policy)
                .withWatchdog(Duration.ofSeconds(10), dev.cairn.block.WatchdogReport::log));
    }

    /** A stack with a new submitter made from {@code config}. */
    public static StackBuilder create(SubmitterConfig config) {
        return new StackBuilder(Submitter.create(config));
    }

    public Submitter submitter() {
        return submitter;
    }

    /** Registers {@code resource} for teardown if it is {@link AutoCloseable}; returns it, for chaining. */
    public synchronized <T> T add(T resource) {
        if (closed) {
            throw new IllegalStateException("stack already torn down; not adding " + resource);
        }
        if (resource instanceof AutoCloseable c && resource != submitter) {
            resources.push(c);
        }
        return resource;
    }

    /** A new {@link MemoryStore}. */
    public MemoryStore memoryStore(String name, long capacityBytes) {
        return add(new MemoryStore(name, capacityBytes));
    }

    /** A new {@link CrashSimulatingStore}. */
    public CrashSimulatingStore crashStore(String name, long capacityBytes) {
        return add(new CrashSimulatingStore(name, capacityBytes));
    }

    /** Opens {@code path} as a {@link FileStore}, closed (after its queued I/O) at teardown. */
    public FileStore fileStore(Path path, FileStoreConfig config) {
        try {
            return add(FileStore.open(path, config));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + path + " as a file store", e);
        }
    }

    /** Creates a sparse file of {@code sizeBytes} at {@code path} and opens it read-write. */
    public FileStore sparseFileStore(Path path, long sizeBytes) {
        try {
            FileStore.createSparse(path, sizeBytes);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + path, e);
        }
        return fileStore(path, FileStoreConfig.defaults());
    }

    /** A new bio set of the submitter, closed at teardown. */
    public BioSet bioSet(String name, int capacity) {
        return add(submitter.newBioSet(name, capacity));
    }

    /** Closes everything registered, newest first, then the submitter. Idempotent. */
    @Override
    public void close() {
        Deque<AutoCloseable> toClose;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            toClose = new ArrayDeque<>(resources);
            resources.clear();
        }
        Throwable first = null;
        for (AutoCloseable c : toClose) {
            try {
                c.close();
            } catch (Throwable t) {
                if (first == null) {
                    first = t;
                } else {
                    first.addSuppressed(t);
                }
            }
        }
        if (first instanceof RuntimeException r) {
            throw r;
        }
        if (first instanceof Error e) {
            throw e;
        }
        if (first != null) {
            throw new IllegalStateException("teardown failed", first);
        }
    }
}
