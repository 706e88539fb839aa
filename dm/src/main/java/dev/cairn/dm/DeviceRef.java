package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import java.util.Objects;

/**
 * A device a target uses, opened through {@link TargetContext#open} or {@link TargetArgs#openDevice}:
 * another mapped device (by name), a named leaf registered with the {@link DeviceRegistry}, or a leaf
 * reference opened by its {@link LeafType} ({@code mem:SIZE}, {@code file:PATH}, {@code rbd:...},
 * {@code nbd://...}). dm core records it as a dependency of
 * the table and releases it when the table is destroyed.
 *
 * <p>{@link #spec()} is the reference exactly as written in the table; targets print it in their
 * TABLE status so the table round-trips.
 *
 * <p>Thread safety: immutable.
 */
public final class DeviceRef {
    /** What a reference points at. */
    public enum Kind {
        /** Another mapped device of the same registry. */
        MAPPED,
        /** A block device registered by name with {@link DeviceRegistry#addLeaf}. */
        LEAF,
        /** {@code mem:SIZE}: a memory store made for this table alone. */
        MEMORY,
        /** {@code file:PATH}: a file or block device, shared by every table that names the same path. */
        FILE,
        /** A leaf of another {@link LeafType} ({@code rbd:}, {@code nbd:}...), shared or private as its type says. */
        EXTERNAL
    }

    private final String spec;
    private final Kind kind;
    private final BlockDevice device;
    /** The {@link LeafType#shareKey} of a shared leaf; null for a private leaf, a mapped device or a named leaf. */
    private final String shareKey;

    DeviceRef(String spec, Kind kind, BlockDevice device) {
        this(spec, kind, device, null);
    }

    DeviceRef(String spec, Kind kind, BlockDevice device, String shareKey) {
        this.spec = Objects.requireNonNull(spec, "spec");
        this.kind = Objects.requireNonNull(kind, "kind");
        this.device = Objects.requireNonNull(device, "device");
        this.shareKey = shareKey;
    }

    String shareKey() {
        return shareKey;
    }

    /** True for a leaf opened for this reference alone ({@code mem:}): two such references are two devices. */
    boolean isPrivateLeaf() {
        return shareKey == null && kind != Kind.MAPPED && kind != Kind.LEAF;
    }

    /** The reference as written in the table (a name, {@code mem:1G}, {@code file:/path}). */
    public String spec() {
        return spec;
    }

    public Kind kind() {
        return kind;
    }

    /** The device to remap bios to. */
    public BlockDevice device() {
        return device;
    }

    /** Capacity of the device in sectors. */
    public long capacitySectors() {
        return device.capacitySectors();
    }

    @Override
    public String toString() {
        return spec;
    }
}
