package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoMutex;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * All mapped devices of one Cairn instance, by name (the analog of {@code /dev/mapper} plus the dm
 * ioctl interface). This is the API the daemon and the CLI drive:
 *
 * <pre>{@code
 * try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
 *      DeviceRegistry dm = new DeviceRegistry(submitter)) {
 *     dm.create("base", "0 2097152 linear mem:1G 0");
 *     dm.create("top", "0 1048576 linear base 0\n1048576 1048576 zero");
 *     dm.suspend("top", SuspendMode.FLUSH);
 *     dm.load("top", "0 2097152 linear base 0");
 *     dm.resume("top");                       // the new table is live, held I/O replayed
 *     DeviceInfo info = dm.info("base");      // holders [top], open count 1
 *     dm.remove("base", false);               // DeviceBusyException: top uses it
 * }
 * }</pre>
 *
 * <p><b>Names and references.</b> Mapped devices and leaves ({@link #addLeaf}: any
 * {@link BlockDevice} given a name) share one namespace. A table refers to them by name, or names a
 * leaf that its {@link LeafType} opens: a new memory store ({@code mem:SIZE}), a file ({@code file:PATH},
 * shared by path and closed when no table uses it), an RBD image or a remote NBD export when those
 * modules are on the class path. A table cannot refer to its own device or to one that uses it (no cycles).
 *
 * <p><b>Holders.</b> A device used by another device's table (live, inactive or being loaded) is held
 * by it; a held or open device cannot be removed unless forced.
 *
 * <p>The graph of devices (holders, tree, order, cycles) is {@link DeviceGraph}; this class resolves
 * references (names, leaves it opens and shares) and runs the devices' lifecycle. It is over 500 lines
 * because the resolver (an inner class) works on the registry's own mutex-guarded maps, the graph's and the
 * shared leaves', and must take that mutex in the same places as the lifecycle methods.
 *
 * <p>Thread safety: all methods may be called from any thread. The name map and the reference graph
 * are guarded by the registry mutex, which is taken after (never before) a device's control mutex.
 */
public final class DeviceRegistry implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(DeviceRegistry.class.getName());

    private final Submitter submitter;
    private final RegistryOptions options;
    private final IoMutex lock;
    private final Resolver resolver = new Resolver();
    private final Map<SharedKey<?>, Object> shared = new ConcurrentHashMap<>();

    // ---- guarded by lock
    /** The mapped devices by name and who uses whom: holders, tree, order, cycles. */
    private final DeviceGraph<MappedDevice> graph = new DeviceGraph<>(NODES);
    private final Map<String, BlockDevice> leaves = new TreeMap<>();
    /** Opened leaves that references share ({@code file:}, {@code rbd:}...), by {@link LeafType#shareKey}. */
    private final Map<String, SharedLeaf> sharedLeaves = new HashMap<>();
    private boolean closed;

    /** What the graph reads of a mapped device (its live table under the registry lock: see {@link #publish}). */
    private static final DeviceGraph.Nodes<MappedDevice> NODES = new DeviceGraph.Nodes<>() {
        @Override
        public String name(MappedDevice node) {
            return node.name();
        }

        @Override
        public boolean removed(MappedDevice node) {
            return node.isRemoved();
        }

        @Override
        public List<DeviceGraph.Ref<MappedDevice>> liveRefs(MappedDevice node) {
            Table t = node.liveTable();
            if (t == null) {
                return List.of();
            }
            List<DeviceGraph.Ref<MappedDevice>> out = new ArrayList<>();
            for (DeviceRef r : t.refs()) {
                MappedDevice lower = r.kind() == DeviceRef.Kind.MAPPED && r.device() instanceof MappedDevice m ? m : null;
                out.add(new DeviceGraph.Ref<>(r.spec(), r.kind(), lower));
            }
            return out;
        }
    };

    private static final class SharedLeaf {
        final BlockDevice device;
        int refs;

        SharedLeaf(BlockDevice device) {
            this.device = device;
        }
    }

    /** A registry with the default options (system clock, every target type on the class path). */
    public DeviceRegistry(Submitter submitter) {
        this(submitter, RegistryOptions.defaults());
    }

    public DeviceRegistry(Submitter submitter, RegistryOptions options) {
        this.submitter = submitter;
        this.options = options;
        this.lock = new IoMutex(submitter, "dm registry");
    }

    public Submitter submitter() {
        return submitter;
    }

    public RegistryOptions options() {
        return options;
    }

    /** The target types tables may use ({@code dmsetup targets}). */
    public TargetTypes targetTypes() {
        return options.targetTypes();
    }

    // ================================================================ devices

    /** Creates a device with no table (dmsetup {@code create --notable}); it is ACTIVE and has no capacity. */
    public MappedDevice create(String name) throws DmException {
        lock.lock();
        try {
            checkOpen();
            checkNewName(name);
            MappedDevice md = new MappedDevice(name, this, options.cloneBioSetCapacity());
            graph.add(md);
            return md;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Creates a device and makes {@code tableText} live (dmsetup {@code create NAME --table ...}). If the
     * table is bad, nothing is created.
     */
    public MappedDevice create(String name, String tableText) throws DmException {
        List<TableLine> lines = TableParser.parse(tableText);
        MappedDevice md = create(name);
        try {
            md.load(lines);
            md.resume();
            return md;
        } catch (DmException | RuntimeException e) {
            removeQuietly(md);
            throw e;
        }
    }

    private void removeQuietly(MappedDevice md) {
        md.destroy(true);
        lock.lock();
        try {
            graph.remove(md);
        } finally {
            lock.unlock();
        }
    }

    /** The device called {@code name}. */
    public MappedDevice device(String name) throws NoSuchDeviceException {
        return find(name).orElseThrow(() -> new NoSuchDeviceException(name));
    }

    public Optional<MappedDevice> find(String name) {
        lock.lock();
        try {
            return Optional.ofNullable(graph.get(name));
        } finally {
            lock.unlock();
        }
    }

    /** Names of the mapped devices, sorted ({@code dmsetup ls}). */
    public List<String> names() {
        lock.lock();
        try {
            return graph.names();
        } finally {
            lock.unlock();
        }
    }

    /** Loads a table into the device's inactive slot; see {@link MappedDevice#load(String)}. */
    public void load(String name, String tableText) throws DmException {
        device(name).load(tableText);
    }

    /** Drops the inactive table. */
    public void clear(String name) throws DmException {
        device(name).clearInactive();
    }

    public void suspend(String name, SuspendMode mode) throws DmException {
        device(name).suspend(mode);
    }

    public void resume(String name) throws DmException {
        device(name).resume();
    }

    public String message(String name, long sector, String... args) throws DmException {
        return device(name).message(sector, args);
    }

    public DeviceStatus status(String name, StatusType type) throws DmException {
        return device(name).status(type);
    }

    /** Status of the inactive table. */
    public DeviceStatus inactiveStatus(String name, StatusType type) throws DmException {
        return device(name).inactiveStatus(type);
    }

    public DeviceInfo info(String name) throws DmException {
        return device(name).info();
    }

    public DeviceDeps deps(String name) throws DmException {
        return device(name).deps();
    }

    /**
     * Removes a device (dmsetup {@code remove [-f]}). Refused with {@link DeviceBusyException} while the
     * device is open or another device's table uses it, unless {@code force}. Without force, in-flight
     * I/O finishes first (the device is suspended); with force, new I/O fails at once. Held I/O fails
     * with IOERR. Devices that still use a force-removed device get IOERR from it.
     */
    public void remove(String name, boolean force) throws DmException {
        MappedDevice md;
        lock.lock();
        try {
            md = graph.get(name);
            if (md == null) {
                throw new NoSuchDeviceException(name);
            }
            if (!force) {
                List<String> holders = graph.holdersOf(name);
                if (!holders.isEmpty()) {
                    throw new DeviceBusyException("device: " + name + " (expected: not in use; used by "
                            + String.join(", ", holders) + ")");
                }
                if (md.externalOpens() > 0) {
                    throw new DeviceBusyException("device: " + name + " (expected: not open; open count "
                            + md.externalOpens() + ")");
                }
            }
        } finally {
            lock.unlock();
        }
        md.destroy(force);
        lock.lock();
        try {
            graph.remove(md);
        } finally {
            lock.unlock();
        }
    }

    // ================================================================ leaves

    /**
     * Names an existing block device so tables can use it by name (an NBD client, a test device). The
     * registry does not close it.
     */
    public void addLeaf(String name, BlockDevice device) throws DmException {
        lock.lock();
        try {
            checkOpen();
            checkNewName(name);
            leaves.put(name, device);
        } finally {
            lock.unlock();
        }
    }

    /** Forgets a leaf; refused while a table uses it. */
    public void removeLeaf(String name) throws DmException {
        lock.lock();
        try {
            if (!leaves.containsKey(name)) {
                throw new NoSuchDeviceException(name);
            }
            List<String> holders = graph.holdersOf(name);
            if (!holders.isEmpty()) {
                throw new DeviceBusyException("device: " + name + " (expected: not in use; used by " + String.join(", ", holders) + ")");
            }
            leaves.remove(name);
        } finally {
            lock.unlock();
        }
    }

    /** Names of the leaves, sorted. */
    public List<String> leafNames() {
        lock.lock();
        try {
            return new ArrayList<>(leaves.keySet());
        } finally {
            lock.unlock();
        }
    }

    // ================================================================ graph

    /** Names of the mapped devices whose tables (live, inactive or being loaded) use {@code device}, sorted. */
    List<String> holdersOf(MappedDevice device) {
        lock.lock();
        try {
            return graph.holdersOf(device.name());
        } finally {
            lock.unlock();
        }
    }

    /** How many table references point at {@code device}. */
    int tableRefsTo(MappedDevice device) {
        lock.lock();
        try {
            return graph.refsTo(device.name());
        } finally {
            lock.unlock();
        }
    }

    /** Runs a table-pointer change of a device under the registry lock, so graph readers see a consistent state. */
    void publish(Runnable change) {
        lock.lock();
        try {
            change.run();
        } finally {
            lock.unlock();
        }
    }

    /**
     * {@code dmsetup ls --tree}: one tree per mapped device that no other device uses; below each node
     * the devices its live table uses.
     */
    public List<DeviceTree> tree() {
        lock.lock();
        try {
            return graph.tree();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The mapped devices in an order in which they can be re-created: every device comes after the
     * devices its tables (live and inactive) use. Ties are broken by name.
     */
    public List<String> dependencyOrder() {
        lock.lock();
        try {
            return graph.dependencyOrder();
        } finally {
            lock.unlock();
        }
    }

    // ================================================================ resolver

    DeviceResolver resolver() {
        return resolver;
    }

    private final class Resolver implements DeviceResolver {
        @Override
        public DeviceRef open(String spec, MappedDevice holder) throws DmException {
            LeafTypes types = options.leafTypes();
            String problem = DeviceSpecs.checkSyntax(spec, types);
            if (problem != null) {
                throw new DmException(spec + " (expected: " + problem + ")");
            }
            if (spec.indexOf(':') >= 0) {
                LeafType type = types.forSpec(spec).orElseThrow(); // checkSyntax rejects unknown schemes
                return openLeaf(type, spec, holder);
            }
            lock.lock();
            try {
                checkOpen();
                MappedDevice md = graph.get(spec);
                if (md != null) {
                    if (md == holder) {
                        throw new DmException(spec + " (expected: another device; a table cannot use its own device)");
                    }
                    if (graph.wouldCycle(md, holder)) {
                        throw new DmException(spec + " (expected: a device that does not use " + holder.name()
                                + "; this would make a cycle)");
                    }
                    if (md.isRemoved()) {
                        throw new DmException(spec + " (expected: an existing device)");
                    }
                    graph.addUse(spec, holder);
                    return new DeviceRef(spec, DeviceRef.Kind.MAPPED, md);
                }
                BlockDevice leaf = leaves.get(spec);
                if (leaf != null) {
                    graph.addUse(spec, holder);
                    return new DeviceRef(spec, DeviceRef.Kind.LEAF, leaf);
                }
                throw new DmException(spec + " (expected: an existing device, " + types.syntaxSummary() + ")");
            } finally {
                lock.unlock();
            }
        }

        /**
         * Opens a leaf reference. The type's open may wait on a network (rbd:, nbd:), so it runs without the
         * registry mutex: a shared leaf is looked up under the mutex, opened outside it, then published; if
         * another table published the same key meanwhile, that one is used and ours closed.
         */
        private DeviceRef openLeaf(LeafType type, String spec, MappedDevice holder) throws DmException {
            DeviceRef.Kind kind = switch (type.scheme()) {
                case "mem" -> DeviceRef.Kind.MEMORY;
                case "file" -> DeviceRef.Kind.FILE;
                default -> DeviceRef.Kind.EXTERNAL;
            };
            String key = type.shareKey(spec).orElse(null);
            if (key != null) {
                lock.lock();
                try {
                    checkOpen();
                    SharedLeaf f = sharedLeaves.get(key);
                    if (f != null) {
                        f.refs++;
                        return new DeviceRef(spec, kind, f.device, key);
                    }
                } finally {
                    lock.unlock();
                }
            }
            BlockDevice dev;
            try {
                dev = type.open(spec, holder.name());
            } catch (IOException | RuntimeException e) {
                throw new DmException(spec + " (expected: " + e.getMessage() + ")", e);
            }
            if (key == null) {
                return new DeviceRef(spec, kind, dev);
            }
            BlockDevice unused = null;
            DeviceRef ref;
            lock.lock();
            try {
                if (closed) {
                    unused = dev;
                    ref = null;
                } else {
                    SharedLeaf f = sharedLeaves.get(key);
                    if (f == null) {
                        f = new SharedLeaf(dev);
                        sharedLeaves.put(key, f);
                    } else {
                        unused = dev;
                    }
                    f.refs++;
                    ref = new DeviceRef(spec, kind, f.device, key);
                }
            } finally {
                lock.unlock();
            }
            if (unused != null) {
                closeQuietly(spec, unused);
            }
            if (ref == null) {
                throw new DmException("registry: closed (expected: an open registry)");
            }
            return ref;
        }

        @Override
        public void release(DeviceRef ref, MappedDevice holder) {
            BlockDevice toClose = null;
            lock.lock();
            try {
                if (ref.isPrivateLeaf()) {
                    toClose = ref.device();
                } else if (ref.shareKey() != null) {
                    SharedLeaf f = sharedLeaves.get(ref.shareKey());
                    if (f != null && --f.refs == 0) {
                        sharedLeaves.remove(ref.shareKey());
                        toClose = f.device;
                    }
                } else {
                    graph.removeUse(ref.spec(), holder);
                }
            } finally {
                lock.unlock();
            }
            if (toClose != null) {
                closeQuietly(ref.spec(), toClose);
            }
        }

        private void closeQuietly(String spec, BlockDevice device) {
            if (device instanceof AutoCloseable c) {
                try {
                    c.close();
                } catch (Exception e) {
                    LOG.log(System.Logger.Level.WARNING, "closing " + spec + " failed", e);
                }
            }
        }

        @Override
        public LeafTypes leafTypes() {
            return options.leafTypes();
        }

        @Override
        public InstantSource clock() {
            return options.clock();
        }

        @Override
        public RandomSource random() {
            return options.random();
        }

        @Override
        public <T> T shared(SharedKey<T> key, Supplier<? extends T> factory) {
            return key.type().cast(DeviceRegistry.this.shared.computeIfAbsent(key, k -> factory.get()));
        }
    }

    // ================================================================ helpers

    private void checkNewName(String name) throws DmException {
        if (!DeviceSpecs.isValidName(name)) {
            throw new DmException("name: \"" + name + "\" (expected: 1 to 127 characters without whitespace, '/', ':' or '#')");
        }
        if (graph.contains(name) || leaves.containsKey(name)) {
            throw new DeviceExistsException(name);
        }
    }

    private void checkOpen() throws DmException {
        if (closed) {
            throw new DmException("registry: closed (expected: an open registry)");
        }
    }

    /**
     * Removes every device, forced, holders before the devices they use. Leaves are not closed;
     * {@code file:} leaves are closed as their last table goes.
     */
    @Override
    public void close() {
        List<String> order;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            lock.unlock();
        }
        order = dependencyOrder();
        for (int i = order.size() - 1; i >= 0; i--) {
            try {
                remove(order.get(i), true);
            } catch (DmException e) {
                LOG.log(System.Logger.Level.DEBUG, "removing " + order.get(i) + " at close", e);
            }
        }
    }

    @Override
    public String toString() {
        return "DeviceRegistry" + names();
    }
}
