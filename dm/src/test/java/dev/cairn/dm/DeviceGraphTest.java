package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link DeviceGraph} on its own, with plain test nodes instead of mapped devices: holders and reference
 * counts, {@code dmsetup ls --tree} from the live tables, the re-creation order, and the cycle check.
 */
class DeviceGraphTest {
    /** A node: its name, whether it was removed, and what its live table refers to. */
    private static final class Node {
        final String name;
        boolean removed;
        final List<DeviceGraph.Ref<Node>> live = new ArrayList<>();

        Node(String name) {
            this.name = name;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private static final DeviceGraph.Nodes<Node> NODES = new DeviceGraph.Nodes<>() {
        @Override
        public String name(Node node) {
            return node.name;
        }

        @Override
        public boolean removed(Node node) {
            return node.removed;
        }

        @Override
        public List<DeviceGraph.Ref<Node>> liveRefs(Node node) {
            return node.live;
        }
    };

    private final DeviceGraph<Node> graph = new DeviceGraph<>(NODES);

    private Node node(String name) {
        Node n = new Node(name);
        graph.add(n);
        return n;
    }

    /** {@code holder}'s live table uses {@code lower}, counted as the resolver counts it. */
    private void uses(Node holder, Node lower) {
        holder.live.add(new DeviceGraph.Ref<>(lower.name, DeviceRef.Kind.MAPPED, lower));
        graph.addUse(lower.name, holder);
    }

    private void usesLeaf(Node holder, String spec, DeviceRef.Kind kind) {
        holder.live.add(new DeviceGraph.Ref<>(spec, kind, null));
        graph.addUse(spec, holder);
    }

    @Test
    void holdersAndReferenceCountsFollowEveryUse() {
        Node base = node("base");
        Node a = node("a");
        Node b = node("b");
        uses(a, base);
        uses(a, base); // two segments on the same device
        uses(b, base);
        assertThat(graph.holdersOf("base")).containsExactly("a", "b");
        assertThat(graph.refsTo("base")).isEqualTo(3);
        graph.removeUse("base", a);
        assertThat(graph.holdersOf("base")).containsExactly("a", "b");
        graph.removeUse("base", a);
        assertThat(graph.holdersOf("base")).containsExactly("b");
        graph.removeUse("base", b);
        assertThat(graph.holdersOf("base")).isEmpty();
        assertThat(graph.refsTo("base")).isZero();
        graph.removeUse("base", b); // already gone: nothing happens
        assertThat(graph.refsTo("base")).isZero();
    }

    @Test
    void treeShowsRootsAndWhatTheirLiveTablesUse() {
        Node base = node("base");
        Node top = node("top");
        Node lone = node("lone");
        uses(top, base);
        usesLeaf(top, "mem:1M", DeviceRef.Kind.MEMORY);
        usesLeaf(base, "file:/tmp/x.img", DeviceRef.Kind.FILE);
        List<DeviceTree> roots = graph.tree();
        assertThat(roots).extracting(DeviceTree::name).containsExactly("lone", "top");
        DeviceTree t = roots.get(1);
        assertThat(t.render()).isEqualTo("""
                top
                 |-base
                 |  `-file:/tmp/x.img
                 `-mem:1M
                """);
        assertThat(roots.getFirst().children()).isEmpty();
        assertThat(lone.live).isEmpty();
    }

    @Test
    void dependencyOrderPutsEveryDeviceAfterWhatItUsesAndLeavesOutRemovedOnes() {
        Node c = node("c");
        Node b = node("b");
        Node a = node("a");
        Node z = node("z");
        uses(a, b);
        uses(b, c);
        uses(z, c);
        assertThat(graph.dependencyOrder()).containsExactly("c", "b", "a", "z");
        b.removed = true;
        assertThat(graph.dependencyOrder()).containsExactly("c", "a", "z");
    }

    @Test
    void aReferenceThatWouldCloseACycleIsFound() {
        Node a = node("a");
        Node b = node("b");
        Node c = node("c");
        uses(a, b);
        uses(b, c);
        assertThat(graph.wouldCycle(a, c)).as("c using a: c -> a -> b -> c").isTrue();
        assertThat(graph.wouldCycle(b, b)).as("a table using its own device").isTrue();
        assertThat(graph.wouldCycle(c, a)).as("a using c again").isFalse();
        Node d = node("d");
        assertThat(graph.wouldCycle(d, a)).isFalse();
    }

    @Test
    void nodesAreKeptByNameAndRemovedOnlyAsThemselves() {
        Node a = node("a");
        node("b");
        assertThat(graph.names()).containsExactly("a", "b");
        assertThat(graph.get("a")).isSameAs(a);
        graph.remove(new Node("a")); // another node of the same name: not removed
        assertThat(graph.contains("a")).isTrue();
        graph.remove(a);
        assertThat(graph.contains("a")).isFalse();
        assertThat(graph.all()).extracting(n -> n.name).containsExactly("b");
    }
}
