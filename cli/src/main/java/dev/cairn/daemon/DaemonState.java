package dev.cairn.daemon;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything a daemon must remember across restarts, as an immutable value. It is written to
 * {@code state.json} (see {@link StateFile}) after every change and read back on start.
 *
 * <p>Format (version {@value #VERSION}):
 * <pre>{@code
 * {
 *   "format": "cairn-state",
 *   "version": 1,
 *   "devices": [ { "name": "vol0", "table": "0 2097152 linear file:/s/images/vol0.img 0\n",
 *                  "inactive": null, "suspended": false, "hidden": false, "deps": ["..."] } ],
 *   "exports": [ { "name": "vol0", "device": "vol0", "readOnly": false, "description": "" } ],
 *   "snapshots": [ { "name": "s1", "origin": "vol0", "real": "vol0-real", "cow": "/s/images/s1.cow",
 *                    "cowManaged": true, "persistent": true, "chunkSectors": 16, "merging": false,
 *                    "mergeDeferred": false } ],
 *   "intent": null
 * }
 * }</pre>
 * {@code thin} (pools and thin volumes, see {@link ThinState}) is written only when there is a pool.
 * {@code mergeDeferred} and {@code intent} were added after the first files were written; a file
 * without them loads with {@code false} and {@code null}. {@code intent} is a multi-step verb in
 * progress (see {@link Intent}): its {@code after} member has the shape of the top level without
 * {@code format}, {@code version} and {@code intent}.
 * Devices are listed in creation order; {@code deps} are the names of the other devices a device's
 * tables refer to, recorded so a restore can bring them up bottom-up without parsing tables first.
 *
 * @param devices   every device, in creation order
 * @param exports   every NBD export
 * @param snapshots snapshots made by {@code snapshot create} (their devices are in {@code devices} too)
 * @param intent    a multi-step verb in progress, or null
 * @param thin      thin pools and volumes made by {@code pool create} and {@code thin create}
 */
public record DaemonState(List<Device> devices, List<Export> exports, List<Snapshot> snapshots, Intent intent, ThinState thin) {
    public static final String FORMAT = "cairn-state";
    public static final int VERSION = 1;

    public DaemonState {
        devices = List.copyOf(devices);
        exports = List.copyOf(exports);
        snapshots = List.copyOf(snapshots);
        thin = thin == null ? ThinState.EMPTY : thin;
        if (intent != null && intent.after().intent() != null) {
            throw new IllegalArgumentException("intent.after: has an intent of its own (expected: none)");
        }
    }

    public DaemonState(List<Device> devices, List<Export> exports, List<Snapshot> snapshots, Intent intent) {
        this(devices, exports, snapshots, intent, ThinState.EMPTY);
    }

    public DaemonState(List<Device> devices, List<Export> exports, List<Snapshot> snapshots) {
        this(devices, exports, snapshots, null);
    }

    /** This state with {@code value} as its thin pools and volumes. */
    public DaemonState withThin(ThinState value) {
        return new DaemonState(devices, exports, snapshots, intent, value);
    }

    public static DaemonState empty() {
        return new DaemonState(List.of(), List.of(), List.of());
    }

    /**
     * A multi-step verb in progress, recorded before its first change so that a restart after a
     * failure or a {@code kill -9} at any step ends in one of the two consistent states: the state
     * around it (rolled back: the files in {@code deleteOnRollback} are removed) or {@code after}
     * (completed: the files in {@code deleteOnCommit} are removed). {@code rollForward} is set,
     * with a new write of the state file, just before the step after which the old state no longer
     * describes the data (a merge table goes live, the origin stops copying out for a snapshot).
     *
     * @param verb             the verb, e.g. {@code snapshot-rm}
     * @param name             what it works on (the snapshot)
     * @param rollForward      a restart completes the verb instead of undoing it
     * @param after            the state once the verb is complete (no intent of its own)
     * @param deleteOnRollback files the verb created that a rollback removes
     * @param deleteOnCommit   files the completed verb removes
     */
    public record Intent(String verb, String name, boolean rollForward, DaemonState after, List<String> deleteOnRollback,
                         List<String> deleteOnCommit) {
        public Intent {
            Objects.requireNonNull(verb, "verb");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(after, "after");
            deleteOnRollback = List.copyOf(deleteOnRollback);
            deleteOnCommit = List.copyOf(deleteOnCommit);
        }

        public Intent withRollForward() {
            return new Intent(verb, name, true, after, deleteOnRollback, deleteOnCommit);
        }
    }

    /** This state with {@code value} as its intent (null: none). */
    public DaemonState withIntent(Intent value) {
        return new DaemonState(devices, exports, snapshots, value, thin);
    }

    /**
     * One device.
     *
     * @param table     the live table, in dmsetup syntax
     * @param inactive  a loaded table that was not resumed yet, or null
     * @param suspended whether the device was suspended
     * @param hidden    made by the snapshot machinery (ORIGIN-real): never exported by default
     * @param deps      names of other devices its tables refer to
     */
    public record Device(String name, String table, String inactive, boolean suspended, boolean hidden, List<String> deps) {
        public Device {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(table, "table");
            deps = List.copyOf(deps);
        }

        public Device withTable(String live, String loaded) {
            return new Device(name, live, loaded, suspended, hidden, deps);
        }

        public Device withSuspended(boolean value) {
            return new Device(name, table, inactive, value, hidden, deps);
        }

        public Device withDeps(List<String> value) {
            return new Device(name, table, inactive, suspended, hidden, value);
        }
    }

    /** One NBD export of a device. */
    public record Export(String name, String device, boolean readOnly, String description) {
        public Export {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(device, "device");
            description = description == null ? "" : description;
        }
    }

    /**
     * A snapshot made by {@code snapshot create}.
     *
     * @param real        the hidden device holding the origin's original table
     * @param cow         the COW image file
     * @param cowManaged  the daemon created the COW image (so {@code snapshot rm} deletes it)
     * @param persistent  P (Linux persistent COW format) or N (transient, memory only)
     * @param merging     a merge into the origin was started and has not finished
     * @param mergeDeferred a merge was asked with {@code --defer}: it starts when the origin is no longer open
     */
    public record Snapshot(String name, String origin, String real, String cow, boolean cowManaged, boolean persistent,
                           long chunkSectors, boolean merging, boolean mergeDeferred) {
        public Snapshot {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(origin, "origin");
            Objects.requireNonNull(real, "real");
            Objects.requireNonNull(cow, "cow");
        }

        public Snapshot(String name, String origin, String real, String cow, boolean cowManaged, boolean persistent,
                        long chunkSectors, boolean merging) {
            this(name, origin, real, cow, cowManaged, persistent, chunkSectors, merging, false);
        }

        public Snapshot withMerging(boolean value) {
            return new Snapshot(name, origin, real, cow, cowManaged, persistent, chunkSectors, value, false);
        }

        public Snapshot withMergeDeferred(boolean value) {
            return new Snapshot(name, origin, real, cow, cowManaged, persistent, chunkSectors, merging, value);
        }
    }

    public Device device(String name) {
        return devices.stream().filter(d -> d.name().equals(name)).findFirst().orElse(null);
    }

    public Snapshot snapshot(String name) {
        return snapshots.stream().filter(s -> s.name().equals(name)).findFirst().orElse(null);
    }

    public Export export(String name) {
        return exports.stream().filter(e -> e.name().equals(name)).findFirst().orElse(null);
    }

    /** A copy with {@code device} added at the end, or replacing the device of the same name in place. */
    public DaemonState withDevice(Device device) {
        List<Device> list = new ArrayList<>(devices);
        int i = indexOf(list, device.name());
        if (i >= 0) {
            list.set(i, device);
        } else {
            list.add(device);
        }
        return new DaemonState(list, exports, snapshots, intent, thin);
    }

    public DaemonState withoutDevice(String name) {
        return new DaemonState(devices.stream().filter(d -> !d.name().equals(name)).toList(),
                exports.stream().filter(e -> !e.device().equals(name)).toList(), snapshots, intent, thin);
    }

    public DaemonState withExport(Export export) {
        List<Export> list = new ArrayList<>(exports.stream().filter(e -> !e.name().equals(export.name())).toList());
        list.add(export);
        return new DaemonState(devices, list, snapshots, intent, thin);
    }

    public DaemonState withoutExport(String name) {
        return new DaemonState(devices, exports.stream().filter(e -> !e.name().equals(name)).toList(), snapshots, intent, thin);
    }

    public DaemonState withSnapshot(Snapshot snapshot) {
        List<Snapshot> list = new ArrayList<>(snapshots);
        list.removeIf(s -> s.name().equals(snapshot.name()));
        list.add(snapshot);
        return new DaemonState(devices, exports, list, intent, thin);
    }

    public DaemonState withoutSnapshot(String name) {
        return new DaemonState(devices, exports, snapshots.stream().filter(s -> !s.name().equals(name)).toList(), intent, thin);
    }

    private static int indexOf(List<Device> list, String name) {
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i).name().equals(name)) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The devices ordered so that every device comes after the devices it depends on (creation order
     * among independent ones). A cycle cannot be built through the daemon; if a hand-edited file has
     * one, the devices on it keep their file order and the restore of the first reports the problem.
     */
    public List<Device> inDependencyOrder() {
        Map<String, Device> byName = new LinkedHashMap<>();
        devices.forEach(d -> byName.put(d.name(), d));
        List<Device> out = new ArrayList<>();
        Map<String, Boolean> visiting = new LinkedHashMap<>();
        for (Device d : devices) {
            visit(d, byName, visiting, out);
        }
        return out;
    }

    private static void visit(Device d, Map<String, Device> byName, Map<String, Boolean> state, List<Device> out) {
        Boolean s = state.get(d.name());
        if (s != null) {
            return; // done, or on the current path (a cycle: leave it to the restore to report)
        }
        state.put(d.name(), Boolean.FALSE);
        for (String dep : d.deps()) {
            Device dd = byName.get(dep);
            if (dd != null) {
                visit(dd, byName, state, out);
            }
        }
        state.put(d.name(), Boolean.TRUE);
        out.add(d);
    }

    // ------------------------------------------------------------------ JSON

    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format", FORMAT);
        m.put("version", (long) VERSION);
        m.putAll(bodyJson());
        if (intent != null) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("verb", intent.verb());
            o.put("name", intent.name());
            o.put("rollForward", intent.rollForward());
            o.put("after", intent.after().bodyJson());
            o.put("deleteOnRollback", new ArrayList<Object>(intent.deleteOnRollback()));
            o.put("deleteOnCommit", new ArrayList<Object>(intent.deleteOnCommit()));
            m.put("intent", o);
        } else {
            m.put("intent", null);
        }
        return m;
    }

    private Map<String, Object> bodyJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        List<Object> devs = new ArrayList<>();
        for (Device d : devices) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("name", d.name());
            o.put("table", d.table());
            o.put("inactive", d.inactive());
            o.put("suspended", d.suspended());
            o.put("hidden", d.hidden());
            o.put("deps", new ArrayList<Object>(d.deps()));
            devs.add(o);
        }
        m.put("devices", devs);
        List<Object> exps = new ArrayList<>();
        for (Export e : exports) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("name", e.name());
            o.put("device", e.device());
            o.put("readOnly", e.readOnly());
            o.put("description", e.description());
            exps.add(o);
        }
        m.put("exports", exps);
        List<Object> snaps = new ArrayList<>();
        for (Snapshot s : snapshots) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("name", s.name());
            o.put("origin", s.origin());
            o.put("real", s.real());
            o.put("cow", s.cow());
            o.put("cowManaged", s.cowManaged());
            o.put("persistent", s.persistent());
            o.put("chunkSectors", s.chunkSectors());
            o.put("merging", s.merging());
            o.put("mergeDeferred", s.mergeDeferred());
            snaps.add(o);
        }
        m.put("snapshots", snaps);
        if (!thin.isEmpty()) {
            m.put("thin", thin.toJson());
        }
        return m;
    }

    /**
     * Reads the JSON form; any missing field, wrong type or unknown version is an
     * {@link IllegalArgumentException} naming the field (the caller adds the file's path).
     */
    public static DaemonState fromJson(Map<String, Object> m) {
        Fields top = new Fields(m, "");
        String format = top.string("format");
        if (!FORMAT.equals(format)) {
            throw new IllegalArgumentException("format: \"" + format + "\" (expected: \"" + FORMAT + "\")");
        }
        long version = top.number("version");
        if (version != VERSION) {
            throw new IllegalArgumentException("version: " + version + " (expected: " + VERSION
                    + (version > VERSION ? "; the file was written by a newer cairn" : "") + ")");
        }
        DaemonState body = bodyFromJson(top);
        Intent intent = null;
        Fields in = top.optObject("intent");
        if (in != null) {
            intent = new Intent(in.string("verb"), in.string("name"), in.bool("rollForward"),
                    bodyFromJson(in.object("after")), in.strings("deleteOnRollback"), in.strings("deleteOnCommit"));
        }
        return body.withIntent(intent);
    }

    private static DaemonState bodyFromJson(Fields top) {
        List<Device> devices = new ArrayList<>();
        for (Fields f : top.objects("devices")) {
            devices.add(new Device(f.string("name"), f.string("table"), f.optString("inactive"),
                    f.bool("suspended"), f.bool("hidden"), f.strings("deps")));
        }
        List<Export> exports = new ArrayList<>();
        for (Fields f : top.objects("exports")) {
            exports.add(new Export(f.string("name"), f.string("device"), f.bool("readOnly"), f.optString("description")));
        }
        List<Snapshot> snapshots = new ArrayList<>();
        for (Fields f : top.objects("snapshots")) {
            snapshots.add(new Snapshot(f.string("name"), f.string("origin"), f.string("real"), f.string("cow"),
                    f.bool("cowManaged"), f.bool("persistent"), f.number("chunkSectors"), f.bool("merging"),
                    f.optBool("mergeDeferred")));
        }
        checkUnique(devices.stream().map(Device::name).toList(), "devices");
        checkUnique(exports.stream().map(Export::name).toList(), "exports");
        checkUnique(snapshots.stream().map(Snapshot::name).toList(), "snapshots");
        Fields thin = top.optObject("thin");
        return new DaemonState(devices, exports, snapshots, null, thin == null ? ThinState.EMPTY : ThinState.fromJson(thin));
    }

    private static void checkUnique(List<String> names, String what) {
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (String n : names) {
            if (!seen.add(n)) {
                throw new IllegalArgumentException(what + ": \"" + n + "\" appears twice (expected: unique names)");
            }
        }
    }

    /** Typed access to a JSON object's fields with messages that name the field's path. */
    static final class Fields {
        private final Map<String, Object> map;
        private final String path;

        Fields(Map<String, Object> map, String path) {
            this.map = map;
            this.path = path;
        }

        private Object required(String key) {
            if (!map.containsKey(key)) {
                throw new IllegalArgumentException(path + key + ": missing (expected: a value)");
            }
            return map.get(key);
        }

        private IllegalArgumentException wrong(String key, Object v, String expected) {
            return new IllegalArgumentException(path + key + ": " + JsonCodec.typeName(v) + " (expected: " + expected + ")");
        }

        String string(String key) {
            Object v = required(key);
            if (v instanceof String s) {
                return s;
            }
            throw wrong(key, v, "a string");
        }

        String optString(String key) {
            Object v = map.get(key);
            if (v == null || v instanceof String) {
                return (String) v;
            }
            throw wrong(key, v, "a string or null");
        }

        boolean optBool(String key) {
            Object v = map.get(key);
            if (v == null) {
                return false;
            }
            if (v instanceof Boolean b) {
                return b;
            }
            throw wrong(key, v, "true, false or null");
        }

        @SuppressWarnings("unchecked")
        Fields object(String key) {
            Object v = required(key);
            if (v instanceof Map<?, ?>) {
                return new Fields((Map<String, Object>) v, path + key + ".");
            }
            throw wrong(key, v, "an object");
        }

        Fields optObject(String key) {
            return map.get(key) == null ? null : object(key);
        }

        boolean bool(String key) {
            Object v = required(key);
            if (v instanceof Boolean b) {
                return b;
            }
            throw wrong(key, v, "true or false");
        }

        long number(String key) {
            Object v = required(key);
            if (v instanceof Long l) {
                return l;
            }
            throw wrong(key, v, "an integer");
        }

        List<Long> numbers(String key) {
            Object v = required(key);
            if (!(v instanceof List<?> list)) {
                throw wrong(key, v, "an array of integers");
            }
            List<Long> out = new ArrayList<>();
            for (Object o : list) {
                if (!(o instanceof Long l)) {
                    throw wrong(key, o, "an array of integers");
                }
                out.add(l);
            }
            return out;
        }

        List<String> strings(String key) {
            Object v = required(key);
            if (!(v instanceof List<?> list)) {
                throw wrong(key, v, "an array of strings");
            }
            List<String> out = new ArrayList<>();
            for (Object o : list) {
                if (!(o instanceof String s)) {
                    throw wrong(key, o, "an array of strings");
                }
                out.add(s);
            }
            return out;
        }

        @SuppressWarnings("unchecked")
        List<Fields> objects(String key) {
            Object v = required(key);
            if (!(v instanceof List<?> list)) {
                throw wrong(key, v, "an array of objects");
            }
            List<Fields> out = new ArrayList<>();
            for (int i = 0; i < list.size(); i++) {
                Object o = list.get(i);
                if (!(o instanceof Map<?, ?>)) {
                    throw wrong(key + "[" + i + "]", o, "an object");
                }
                out.add(new Fields((Map<String, Object>) o, path + key + "[" + i + "]."));
            }
            return out;
        }
    }
}
