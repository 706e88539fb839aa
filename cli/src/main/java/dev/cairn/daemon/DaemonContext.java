package dev.cairn.daemon;

import dev.cairn.dm.DeviceDeps;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DeviceState;
import dev.cairn.dm.DeviceStatus;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.SuspendMode;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import org.slf4j.LoggerFactory;

/**
 * What a {@link VerbArea} sees of the daemon: the device registry, the state and its file, the name
 * locks, the live exports, the test hooks, and a way to tell the other areas that something was
 * released. Not the life cycle, not the control socket, not the other areas.
 *
 * <p>Thread safety: every method may be called from any request thread.
 */
interface DaemonContext {
    Daemon.Config config();

    DeviceRegistry registry();

    /** The state as last committed (an immutable value). */
    DaemonState state();

    /**
     * Applies {@code change} to the state and persists it, as one read-modify-write under the state lock
     * (so concurrent verbs never lose each other's changes). {@code change} must not wait on I/O. A
     * state file that cannot be written is a {@link ErrorKind#STATE} error saying the change is live.
     */
    void update(UnaryOperator<DaemonState> change);

    /** The state as a {@link Transaction} reads and writes it. */
    Transaction.StateStore stateStore();

    /** Runs {@code action} holding the name locks of {@code deviceNames} (nulls ignored); refused while stopping. */
    <T> T withNames(Supplier<T> action, String... deviceNames);

    /**
     * Runs a multi-step verb (one that records an intent, see {@link Transaction}) holding the intent lock
     * (one such verb at a time: the state has one intent slot) and the name locks of {@code deviceNames}.
     */
    <T> T withIntent(Supplier<T> action, String... deviceNames);

    DaemonHooks hooks();

    Exports exports();

    /** Wakes {@code wait} requests: the state changed (or a request was cancelled). */
    Events events();

    /** Asks every area whether {@code device} is one whose tables it manages (see {@link VerbArea#checkNotManaged}). */
    void checkNotManaged(String device, String verb);

    /** Tells every area that a user of a device went away ({@link VerbArea#released}). */
    void released();

    /** The statistics sources ({@code stats}). */
    dev.cairn.metrics.MetricsSources metricsSources();

    // ------------------------------------------------------------------ helpers over the above

    /** The device {@code name}, or a {@code not-found} error. */
    default MappedDevice device(String name) {
        try {
            return registry().device(name);
        } catch (DmException e) {
            throw DmErrors.of("find", name, e);
        }
    }

    /** The record of {@code name} from the registry, keeping its hidden flag. */
    default DaemonState.Device recordOf(String name) {
        DaemonState.Device old = state().device(name);
        return recordOf(name, old != null && old.hidden(), old);
    }

    /**
     * The record of {@code name} as the registry has it now: its canonical TABLE status (which
     * round-trips through the target constructors), its loaded table and the devices it refers to.
     */
    default DaemonState.Device recordOf(String name, boolean hidden, DaemonState.Device old) {
        MappedDevice md = device(name);
        String live = md.status(StatusType.TABLE).text();
        if (live.isEmpty() && old != null) {
            live = old.table(); // not restored (or cleared): keep what was saved so nothing is lost
        }
        DeviceStatus inactiveStatus = md.inactiveStatus(StatusType.TABLE);
        String inactive = inactiveStatus.lines().isEmpty() ? null : inactiveStatus.text();
        DeviceDeps deps = md.deps();
        Set<String> names = new LinkedHashSet<>();
        for (String ref : deps.live()) {
            if (registry().find(ref).isPresent()) {
                names.add(ref);
            }
        }
        for (String ref : deps.inactive()) {
            if (registry().find(ref).isPresent()) {
                names.add(ref);
            }
        }
        return new DaemonState.Device(name, live, inactive, md.state() == DeviceState.SUSPENDED, hidden, List.copyOf(names));
    }

    /**
     * What has {@code origin} or {@code snapshot} (null: only the origin) open, as lines for a message
     * ({@code "2 NBD clients of export vol0"}, {@code "device top (stacked on vol0)"}); empty when nothing.
     */
    default List<String> openUsers(String origin, String snapshot) {
        List<String> out = new java.util.ArrayList<>();
        for (String device : snapshot == null ? List.of(origin) : List.of(origin, snapshot)) {
            for (String export : exports().of(device)) {
                int n = exports().clients(export);
                if (n > 0) {
                    out.add(n + " NBD client" + (n == 1 ? "" : "s") + " of export " + export);
                }
            }
            registry().find(device).ifPresent(md -> {
                for (String h : md.info().holders()) {
                    out.add("device " + h + " (stacked on " + device + ")");
                }
            });
        }
        return out;
    }

    /** Removes {@code name} (forced) for a rollback, logging a failure instead of throwing it. */
    default void removeQuietly(String name) {
        try {
            registry().remove(name, true);
        } catch (DmException | RuntimeException e) {
            LoggerFactory.getLogger(DaemonContext.class).warn("rollback: removing {} failed: {}", name, e.getMessage());
        }
    }

    /**
     * Suspends {@code md}, giving up (leaving it as it was) when the current request is cancelled or
     * {@code timeout} (null: none) passes.
     */
    default void suspendDevice(MappedDevice md, SuspendMode mode, Duration timeout) throws DmException {
        try (Cancel.Registration r = Cancel.current().onCancel(md::abortSuspend)) {
            md.suspend(mode, timeout);
        }
    }

    /** Serves {@code e} (opening its device); see {@link Exports#add}. */
    default void addExportLive(DaemonState.Export e) {
        exports().add(e, device(e.device()));
    }
}
