package dev.cairn.block;

import java.util.ArrayList;
import java.util.List;

/**
 * A per-thread plug scope (Linux {@code blk_start_plug}/{@code blk_finish_plug} with
 * {@code blk_plug_cb}). Leaf stores and drivers add callbacks to batch work; the callbacks run
 * once, when the outermost scope closes ({@code fromSchedule = false}) or when the thread is about
 * to block in a blocking primitive ({@code fromSchedule = true}), whichever comes first.
 *
 * <pre>{@code
 * try (Plug plug = Plug.start()) {
 *     submitter.submit(a);
 *     submitter.submit(b);
 * }   // callbacks run here
 * }</pre>
 *
 * A nested {@link #start()} returns a scope whose {@code close} does nothing.
 *
 * <p>Thread safety: confined to the thread that started it.
 */
public final class Plug implements AutoCloseable {
    private static final Plug NESTED = new Plug(null);

    /** Work to do when the plug is flushed. */
    @FunctionalInterface
    public interface Callback {
        void unplug(boolean fromSchedule);
    }

    private final Submitter.ThreadState owner;
    private final List<Callback> callbacks = new ArrayList<>();

    private Plug(Submitter.ThreadState owner) {
        this.owner = owner;
    }

    /** Starts a plug scope on the calling thread (a no-op scope when one is already active). */
    public static Plug start() {
        Submitter.ThreadState ts = Submitter.state();
        if (ts.plug != null) {
            return NESTED;
        }
        Plug p = new Plug(ts);
        ts.plug = p;
        return p;
    }

    /** True when the calling thread is inside a plug scope. */
    public static boolean isPlugged() {
        return Submitter.state().plug != null;
    }

    /**
     * Adds {@code callback} to the calling thread's plug unless it is already there (Linux
     * {@code blk_check_plugged}); false when the thread has no plug (the caller should do its work now).
     */
    public static boolean addCallback(Callback callback) {
        Plug p = Submitter.state().plug;
        if (p == null) {
            return false;
        }
        for (Callback c : p.callbacks) {
            if (c == callback) {
                return true;
            }
        }
        p.callbacks.add(callback);
        return true;
    }

    /** Runs and removes every callback, including ones added while flushing. */
    void flush(boolean fromSchedule) {
        while (!callbacks.isEmpty()) {
            Callback c = callbacks.removeFirst();
            c.unplug(fromSchedule);
        }
    }

    @Override
    public void close() {
        if (owner == null) {
            return;
        }
        try {
            flush(false);
        } finally {
            owner.plug = null;
        }
    }
}
