package dev.cairn.dm;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The graph of mapped devices: which devices exist by name, and which devices' tables use which others
 * (the kernel's holders/slaves links). From it come the holders of a device, the number of table references
 * to it, {@code dmsetup ls --tree}, an order in which the devices can be re-created, and the cycle check a
 * new table reference must pass. Resolving a reference (opening leaves, sharing files) is the registry's.
 *
 * <p>A use is counted per (lower name, holder) pair, for every table of the holder: live, inactive or being
 * built, so a device is held from the moment a table being loaded refers to it. The tree, unlike the other
 * views, shows the live tables only, as dmsetup does.
 *
 * <p>Generic in the node type so that it can be tested without devices: {@link Nodes} tells it a node's
 * name, whether it was removed, and what its live table refers to.
 *
 * <p>Thread safety: none of its own; the registry calls every method under its mutex.
 *
 * @param <D> the node type ({@link MappedDevice} in the registry)
 */
final class DeviceGraph<D> {
    /** What the graph needs to know about a node. */
    interface Nodes<D> {
        String name(D node);

        boolean removed(D node);

        /** What the node's live table refers to, in table order; empty without a live table. */
        List<Ref<D>> liveRefs(D node);
    }

    /**
     * One reference of a live table.
     *
     * @param spec   the name or leaf spec as written in the table
     * @param kind   what it refers to
     * @param mapped the mapped device it refers to, or null for a leaf
     */
    record Ref<D>(String spec, DeviceRef.Kind kind, D mapped) {}

    private final Nodes<D> nodes;
    private final Map<String, D> devices = new TreeMap<>();
    /** For each device (mapped or leaf, by name) the number of references per holder. */
    private final Map<String, Map<D, Integer>> uses = new HashMap<>();

    DeviceGraph(Nodes<D> nodes) {
        this.nodes = nodes;
    }

    // ---------------------------------------------------------------- nodes

    void add(D node) {
        devices.put(nodes.name(node), node);
    }

    /** Forgets {@code node} if it is still the one under its name. */
    void remove(D node) {
        devices.remove(nodes.name(node), node);
    }

    D get(String name) {
        return devices.get(name);
    }

    boolean contains(String name) {
        return devices.containsKey(name);
    }

    /** Names, sorted. */
    List<String> names() {
        return new ArrayList<>(devices.keySet());
    }

    /** The nodes, sorted by name. */
    Collection<D> all() {
        return devices.values();
    }

    // ---------------------------------------------------------------- uses

    /** One more reference from a table of {@code holder} to the device called {@code name}. */
    void addUse(String name, D holder) {
        uses.computeIfAbsent(name, k -> new HashMap<>()).merge(holder, 1, Integer::sum);
    }

    /** One reference fewer from a table of {@code holder} to {@code name}. */
    void removeUse(String name, D holder) {
        Map<D, Integer> m = uses.get(name);
        if (m != null) {
            m.computeIfPresent(holder, (k, v) -> v == 1 ? null : v - 1);
            if (m.isEmpty()) {
                uses.remove(name);
            }
        }
    }

    /** Names of the nodes whose tables use {@code name}, sorted. */
    List<String> holdersOf(String name) {
        Map<D, Integer> m = uses.get(name);
        if (m == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (D h : m.keySet()) {
            out.add(nodes.name(h));
        }
        out.sort(null);
        return out;
    }

    /** How many table references point at {@code name}. */
    int refsTo(String name) {
        Map<D, Integer> m = uses.get(name);
        int n = 0;
        if (m != null) {
            for (int c : m.values()) {
                n += c;
            }
        }
        return n;
    }

    // ---------------------------------------------------------------- views

    /**
     * {@code dmsetup ls --tree}: one tree per node that no other node uses; below each node what its live
     * table uses. A cycle through live tables (which {@link #wouldCycle} keeps out) is cut where it closes.
     */
    List<DeviceTree> tree() {
        List<DeviceTree> roots = new ArrayList<>();
        for (D node : devices.values()) {
            if (holdersOf(nodes.name(node)).isEmpty()) {
                roots.add(treeOf(node, new HashSet<>()));
            }
        }
        return roots;
    }

    private DeviceTree treeOf(D node, Set<D> path) {
        List<DeviceTree> children = new ArrayList<>();
        if (path.add(node)) {
            for (Ref<D> r : nodes.liveRefs(node)) {
                if (r.kind() == DeviceRef.Kind.MAPPED && r.mapped() != null) {
                    children.add(treeOf(r.mapped(), path));
                } else {
                    children.add(new DeviceTree(r.spec(), r.kind(), List.of()));
                }
            }
            path.remove(node);
        }
        return new DeviceTree(nodes.name(node), DeviceRef.Kind.MAPPED, children);
    }

    /**
     * The nodes in an order in which they can be re-created: every node after the nodes its tables (live,
     * inactive, being built) use. Ties are broken by name; removed nodes are left out.
     */
    List<String> dependencyOrder() {
        List<String> out = new ArrayList<>();
        Set<D> done = new HashSet<>();
        for (D node : devices.values()) {
            visitDeps(node, done, out);
        }
        return out;
    }

    private void visitDeps(D node, Set<D> done, List<String> out) {
        if (!done.add(node)) {
            return;
        }
        for (D lower : depsOf(node)) {
            visitDeps(lower, done, out);
        }
        if (!nodes.removed(node)) {
            out.add(nodes.name(node));
        }
    }

    /** True when a table of {@code holder} referring to {@code lower} would close a cycle (or is a self-reference). */
    boolean wouldCycle(D lower, D holder) {
        return reaches(lower, holder, new HashSet<>());
    }

    /** True when {@code from} uses {@code to}, directly or through other nodes. */
    private boolean reaches(D from, D to, Set<D> seen) {
        if (from == to) {
            return true;
        }
        if (!seen.add(from)) {
            return false;
        }
        for (D lower : depsOf(from)) {
            if (reaches(lower, to, seen)) {
                return true;
            }
        }
        return false;
    }

    /** The nodes {@code node}'s tables use, from the reference counts, sorted by name. */
    private List<D> depsOf(D node) {
        Set<D> out = new LinkedHashSet<>();
        for (Map.Entry<String, Map<D, Integer>> e : uses.entrySet()) {
            if (e.getValue().containsKey(node)) {
                D lower = devices.get(e.getKey());
                if (lower != null) {
                    out.add(lower);
                }
            }
        }
        List<D> sorted = new ArrayList<>(out);
        sorted.sort(Comparator.comparing(nodes::name));
        return sorted;
    }
}
