package dev.cairn.daemon;

/**
 * Seams where tests observe or disturb the daemon; the daemon itself uses {@link #NONE}. A multi-step
 * verb calls {@link #beforeStep} before each of its steps, so a test can make any step fail (throw) or
 * record the files on disk as a {@code kill -9} at that point would leave them, then restart.
 *
 * <p>Thread safety: called from the thread running the verb; implementations must be thread-safe if
 * verbs run concurrently.
 */
public interface DaemonHooks {
    DaemonHooks NONE = new DaemonHooks() {};

    /**
     * Called before step {@code step} of the verb {@code verb} on {@code name} (a snapshot). A
     * {@link RuntimeException} thrown here is a failure of that step.
     */
    default void beforeStep(String verb, String name, String step) {}
}
