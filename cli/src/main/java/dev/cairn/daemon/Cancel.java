package dev.cairn.daemon;

import java.util.ArrayList;
import java.util.List;

/**
 * The cancellation of one control request: its client went away (Ctrl-C), or the daemon is stopping.
 * Code that waits (a suspend waiting for in-flight I/O) registers what makes it give up with
 * {@link #onCancel}; the request's thread finds its own through {@link #CURRENT}.
 *
 * <p>Thread safety: {@link #cancel()} and {@link #onCancel} from any thread; each listener runs once.
 */
public final class Cancel {
    /** The cancellation of the request running on this thread (unbound: none can happen). */
    static final ScopedValue<Cancel> CURRENT = ScopedValue.newInstance();

    private final List<Runnable> listeners = new ArrayList<>(); // guarded by this
    private String reason; // guarded by this; null until cancelled

    /** The current request's cancellation, or a fresh one that nothing cancels. */
    static Cancel current() {
        return CURRENT.isBound() ? CURRENT.get() : new Cancel();
    }

    /** Cancels: runs every listener registered so far (and any registered later, at once). Idempotent. */
    public void cancel(String why) {
        List<Runnable> run;
        synchronized (this) {
            if (reason != null) {
                return;
            }
            reason = why;
            run = List.copyOf(listeners);
            listeners.clear();
        }
        run.forEach(Runnable::run);
    }

    /** Why it was cancelled, or null. */
    public synchronized String reason() {
        return reason;
    }

    /** Registers {@code action} until the returned handle is closed; runs it at once if already cancelled. */
    Registration onCancel(Runnable action) {
        boolean now;
        synchronized (this) {
            now = reason != null;
            if (!now) {
                listeners.add(action);
            }
        }
        if (now) {
            action.run();
        }
        return () -> {
            synchronized (this) {
                listeners.remove(action);
            }
        };
    }

    /** Removes a listener. */
    @FunctionalInterface
    interface Registration extends AutoCloseable {
        @Override
        void close();
    }
}
