package dev.cairn.daemon;

import dev.cairn.dm.DeviceDeps;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DeviceState;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.SuspendMode;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's device tree at start and stop: brought up from the state file bottom-up, and at stop
 * flushed top-down, with I/O that a device the user left suspended holds failed so the stop ends.
 *
 * <p>Thread safety: called by the daemon's life cycle only (one thread), before the control socket
 * accepts or after it closed.
 */
final class DeviceTreeLifecycle {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceTreeLifecycle.class);

    private DeviceTreeLifecycle() {}

    /**
     * Creates every device of {@code state} in dependency order, loads its inactive table, then suspends
     * the ones saved suspended (top-down, once every table is built). A device that cannot be restored
     * keeps its name with no table (its saved table stays in the state file); each problem is one line
     * added to {@code problems}. {@code restored} is called right after each device is rebuilt (see
     * {@link VerbArea#restored}) and returns problems to add.
     */
    static void restore(DeviceRegistry registry, DaemonState state, List<String> problems,
            java.util.function.Function<String, List<String>> restored) {
        for (DaemonState.Device dev : state.inDependencyOrder()) {
            try {
                registry.create(dev.name(), dev.table());
            } catch (DmException | RuntimeException e) {
                String why = e.getMessage();
                LOG.error("device {} could not be restored: {}", dev.name(), why);
                problems.add(dev.name() + ": " + why);
                try {
                    // Keep the name (and the saved table in the state file) so the user can fix it with load/resume.
                    registry.create(dev.name());
                } catch (DmException ignored) {
                    // the name itself is taken or invalid: nothing more to do
                }
                continue;
            }
            problems.addAll(restored.apply(dev.name()));
            if (dev.inactive() != null) {
                try {
                    registry.load(dev.name(), dev.inactive());
                } catch (DmException | RuntimeException e) {
                    LOG.error("the loaded (inactive) table of {} could not be restored: {}", dev.name(), e.getMessage());
                    problems.add(dev.name() + " (inactive table): " + e.getMessage());
                }
            }
        }
        // Suspend after every table is built (a table may read its devices while it is built), top-down.
        List<DaemonState.Device> order = state.inDependencyOrder();
        for (int i = order.size() - 1; i >= 0; i--) {
            DaemonState.Device dev = order.get(i);
            if (dev.suspended()) {
                try {
                    registry.suspend(dev.name(), SuspendMode.FLUSH);
                } catch (DmException | RuntimeException e) {
                    problems.add(dev.name() + " (suspend): " + e.getMessage());
                }
            }
        }
    }


    static void abortSuspends(DeviceRegistry registry) {
        if (registry == null) {
            return;
        }
        for (String name : registry.names()) {
            registry.find(name).ifPresent(md -> {
                if (md.abortSuspend()) {
                    LOG.warn("stopping: the suspend of {} that was waiting for I/O was cancelled", name);
                }
            });
        }
    }


    /**
     * Devices the user left suspended hold I/O that nothing will resume now; removing them (forced,
     * bottom-up; the state file keeps them, suspended) fails that I/O, so the devices stacked on them
     * can drain and close. Without this a write held below kept the daemon from stopping.
     */
    static void failHeldIo(DeviceRegistry registry) {
        for (String name : registry.dependencyOrder()) {
            MappedDevice md = registry.find(name).orElse(null);
            if (md != null && md.state() == DeviceState.SUSPENDED && md.info().heldBios() > 0) {
                LOG.warn("stopping: {} is suspended with {} I/O requests held; they fail", name, md.info().heldBios());
                try {
                    registry.remove(name, true);
                } catch (DmException | RuntimeException e) {
                    LOG.warn("stopping: removing {}: {}", name, e.getMessage());
                }
            }
        }
    }


    /**
     * Suspends every device top-down with a flush, so everything acknowledged is on stable storage.
     * A device that sits on a device the user left suspended is skipped: its flush would be held
     * forever (its data is flushed by nothing, as with dmsetup). The whole flush gets
     * {@code budget}; a device still draining then is left as it is.
     */
    static void flushAll(DeviceRegistry registry, Duration budget) {
        long deadline = System.nanoTime() + budget.toNanos();
        List<String> order = registry.dependencyOrder();
        Set<String> blocked = new java.util.HashSet<>();
        for (String name : order) {
            try {
                MappedDevice md = registry.device(name);
                DeviceDeps deps = md.deps();
                if (md.state() == DeviceState.SUSPENDED || deps.live().stream().anyMatch(blocked::contains)) {
                    blocked.add(name);
                }
            } catch (DmException e) {
                blocked.add(name);
            }
        }
        for (int i = order.size() - 1; i >= 0; i--) {
            String name = order.get(i);
            if (blocked.contains(name)) {
                LOG.warn("not flushing {} at stop: it is suspended or sits on a suspended device", name);
                continue;
            }
            try {
                MappedDevice md = registry.device(name);
                if (md.info().liveTable()) {
                    long left = Math.max(deadline - System.nanoTime(), Duration.ofMillis(100).toNanos());
                    md.suspend(SuspendMode.FLUSH, Duration.ofNanos(left));
                }
            } catch (DmException | RuntimeException e) {
                LOG.warn("flushing {} at stop failed: {}", name, e.getMessage());
            }
        }
    }
}
