package dev.cairn.daemon;

/**
 * One area of verbs (devices, exports, snapshots, the daemon's own): registers its handlers and may
 * take part in the daemon's life cycle. An area is made from a {@link DaemonContext} by one line in
 * {@link Daemon}'s list of areas, and sees the daemon only through that context.
 *
 * <p>Thread safety: handlers run on many request threads at once; each area says how it copes.
 */
interface VerbArea {
    /** Adds this area's handlers; called once, before any request. */
    void register(VerbRegistry verbs);

    /** After the start: devices restored, NBD and the control socket up (snapshots follow their merges). */
    default void started() {}

    /** At the start of a stop, before the control socket closes: stop background work. */
    default void stopping() {}

    /**
     * A user of some device went away (an NBD client left, a device was removed): work waiting for
     * devices to be closed may start. Called on the thread of whatever went away; must not wait.
     */
    default void released() {}

    /**
     * Refuses (with a {@link DaemonException}) a plain dm verb ({@code load}, {@code remove}) on a
     * device whose tables this area manages, naming the verb that does it right.
     */
    default void checkNotManaged(String device, String verb) {}

    /**
     * At a restart, after {@link Transaction#recover} made {@code recovered} of the {@code loaded} state:
     * the state this area goes on with (say, device ids a rolled-back verb may have left to delete).
     */
    default DaemonState recovered(DaemonState loaded, DaemonState recovered) {
        return recovered;
    }

    /**
     * At a restart, right after {@code device} was rebuilt (before the devices stacked on it): reconciles
     * what this area keeps of it. Returns problems for the start banner (empty: none).
     */
    default java.util.List<String> restored(String device) {
        return java.util.List.of();
    }
}
