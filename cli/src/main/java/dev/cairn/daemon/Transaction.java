package dev.cairn.daemon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One multi-step verb (snapshot create, rm, merge, the end of a merge) applied as a transaction: the
 * caller checks everything first, then {@link #begin}s, which records the {@link DaemonState.Intent}
 * in the state file before any change. Each live change is a {@link #step} with its undo. A failure
 * before the {@link #pointOfNoReturn} runs the undos in reverse order and removes the intent
 * ({@link #rollback}); after it, the remaining steps are completed as far as they go and
 * {@link #commit} writes the final state. A {@code kill -9} at any point leaves the intent in the
 * file, and {@link #recover} at the next start rolls it back or completes it.
 *
 * <p>Thread safety: confined to the thread running the verb, under the daemon's snapshot lock (one
 * transaction at a time: the state has one intent slot).
 */
final class Transaction {
    private static final Logger LOG = LoggerFactory.getLogger(Transaction.class);

    /** A step's action. */
    @FunctionalInterface
    interface Action {
        void run() throws Exception;
    }

    private final StateStore store;
    private final DaemonHooks hooks;
    private final Deque<Runnable> undo = new ArrayDeque<>();
    private DaemonState.Intent intent;
    private boolean forward;

    private Transaction(StateStore store, DaemonHooks hooks, DaemonState.Intent intent) {
        this.store = store;
        this.hooks = hooks;
        this.intent = intent;
    }

    /** Where the transaction reads and writes the daemon's state. */
    interface StateStore {
        DaemonState current();

        /** Applies {@code change} to the current state and writes the result, atomically; a failure is an {@link IOException}. */
        void update(java.util.function.UnaryOperator<DaemonState> change) throws IOException;
    }

    /**
     * Records the intent; nothing has changed yet, so a failure to write it is a plain error.
     *
     * @param after the state once the verb is complete (the caller's prediction, used by a restart that
     *              completes the verb; {@link #commit} writes the state read back from the live devices)
     */
    static Transaction begin(StateStore store, DaemonHooks hooks, String verb, String name, DaemonState after,
                             List<String> deleteOnRollback, List<String> deleteOnCommit) {
        DaemonState.Intent intent = new DaemonState.Intent(verb, name, false, after.withIntent(null), deleteOnRollback,
                deleteOnCommit);
        try {
            store.update(s -> s.withIntent(intent));
        } catch (IOException e) {
            throw new DaemonException(ErrorKind.STATE, verb + " " + name + ": the state file could not be written: "
                    + e.getMessage(), "nothing was changed; free space or fix permissions, then repeat it", e);
        }
        return new Transaction(store, hooks, intent);
    }

    /** Runs one step; its undo (may be null) runs if a later step before the point of no return fails. */
    void step(String step, Action action, Runnable undoAction) throws Exception {
        hooks.beforeStep(intent.verb(), intent.name(), step);
        if (forward) {
            try {
                action.run();
            } catch (Exception | Error e) {
                LOG.error("{} {}: step {} failed after the point of no return: {}; the change is completed without it "
                        + "(a restart finishes it)", intent.verb(), intent.name(), step, e.toString());
            }
            return;
        }
        action.run();
        if (undoAction != null) {
            undo.push(undoAction);
        }
    }

    /** Replaces the undo pushed by the last step (a step whose undo changes once it has succeeded). */
    void replaceLastUndo(Runnable undoAction) {
        undo.pop();
        undo.push(undoAction);
    }

    /**
     * From here on the old state no longer describes the data: the intent is rewritten with
     * {@code rollForward}, so a restart completes the verb, and later failures no longer undo.
     */
    void pointOfNoReturn() throws IOException {
        hooks.beforeStep(intent.verb(), intent.name(), "point-of-no-return");
        intent = intent.withRollForward();
        DaemonState.Intent forwardIntent = intent;
        store.update(s -> s.withIntent(forwardIntent));
        forward = true;
        undo.clear();
    }

    boolean isForward() {
        return forward;
    }

    /**
     * Writes {@code finalState} (without the intent) and removes the files the verb deletes. If the
     * state cannot be written the intent stays in the file, so the next start completes or undoes it.
     */
    void commit(java.util.function.UnaryOperator<DaemonState> finalState) {
        hooks.beforeStep(intent.verb(), intent.name(), "commit");
        try {
            if (intent.deleteOnCommit().isEmpty()) {
                store.update(s -> finalState.apply(s).withIntent(null));
            } else {
                // The files go after the state says so, and the intent stays until they are gone, so neither a
                // crash before the delete (the next start deletes them) nor one after it loses track of them.
                store.update(s -> {
                    DaemonState done = finalState.apply(s).withIntent(null);
                    return done.withIntent(new DaemonState.Intent(intent.verb(), intent.name(), true, done, List.of(),
                            intent.deleteOnCommit()));
                });
                forward = true;
                deleteAll(intent.deleteOnCommit());
                store.update(s -> s.withIntent(null));
            }
        } catch (IOException e) {
            throw new DaemonException(ErrorKind.STATE, intent.verb() + " " + intent.name()
                    + ": the state file could not be written: " + e.getMessage(),
                    "free space or fix permissions; the next start of the daemon completes or undoes the change", e);
        }
    }

    /** Undoes the steps done so far, newest first, removes created files and the intent. */
    void rollback() {
        while (!undo.isEmpty()) {
            try {
                undo.pop().run();
            } catch (RuntimeException e) {
                LOG.error("rollback step failed: {}", e.toString());
            }
        }
        deleteAll(intent.deleteOnRollback());
        try {
            store.update(s -> s.withIntent(null));
        } catch (IOException e) {
            LOG.error("{} {} was undone but the state file could not be written ({}); the next start undoes it again",
                    intent.verb(), intent.name(), e.toString());
        }
    }

    /**
     * At start: a state with an intent is turned into the state before the verb (rolled back) or the
     * state after it (completed), and the files the chosen outcome removes are deleted. Returns a line
     * saying what was done, or null when there was no intent.
     */
    static String recover(DaemonState loaded, java.util.function.Consumer<DaemonState> result) {
        DaemonState.Intent in = loaded.intent();
        if (in == null) {
            return null;
        }
        if (in.rollForward()) {
            deleteAll(in.deleteOnCommit());
            result.accept(in.after());
            return "completed the interrupted " + in.verb() + " " + in.name();
        }
        deleteAll(in.deleteOnRollback());
        result.accept(loaded.withIntent(null));
        return "rolled back the interrupted " + in.verb() + " " + in.name();
    }

    private static void deleteAll(List<String> paths) {
        for (String p : paths) {
            try {
                Files.deleteIfExists(Path.of(p));
            } catch (IOException e) {
                LOG.warn("could not delete {}: {}", p, e.toString());
            }
        }
    }
}
