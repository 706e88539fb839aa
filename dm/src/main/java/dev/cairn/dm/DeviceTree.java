package dev.cairn.dm;

import java.util.List;
import java.util.Objects;

/**
 * One node of {@code dmsetup ls --tree}: a device and, below it, the devices its live table uses.
 * Roots are the mapped devices nothing else uses.
 *
 * @param name     a mapped device's name, a leaf's name, or a {@code mem:}/{@code file:} reference
 * @param kind     what the node is
 * @param children the devices this one uses (empty for leaves)
 */
public record DeviceTree(String name, DeviceRef.Kind kind, List<DeviceTree> children) {
    public DeviceTree {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(kind, "kind");
        children = List.copyOf(children);
    }

    /** Renders the tree as dmsetup does, with box-drawing branches. */
    public String render() {
        StringBuilder sb = new StringBuilder();
        sb.append(name).append('\n');
        for (int i = 0; i < children.size(); i++) {
            children.get(i).render(sb, "", i == children.size() - 1);
        }
        return sb.toString();
    }

    private void render(StringBuilder sb, String indent, boolean last) {
        sb.append(indent).append(last ? " `-" : " |-").append(name).append('\n');
        for (int i = 0; i < children.size(); i++) {
            children.get(i).render(sb, indent + (last ? "   " : " | "), i == children.size() - 1);
        }
    }
}
