package dev.cairn.pdata;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The type of a btree's leaf values (Linux {@code struct dm_btree_value_type}): their size and what
 * taking or dropping a reference to one means. Mapping values reference data blocks (the data space
 * map counts them); the top level of the mapping tree references subtrees.
 *
 * <p>Thread safety: implementations are used under their tree owner's lock.
 */
public interface ValueType {
    /** Size of one value in bytes. */
    int size();

    /** Another reference to the value at {@code offsetBytes} of {@code node} now exists. */
    default void inc(ByteBuffer node, int offsetBytes) throws MetadataException {}

    /** A reference to the value at {@code offsetBytes} of {@code node} has gone. */
    default void dec(ByteBuffer node, int offsetBytes) throws MetadataException {}

    /** True when overwriting the stored value with {@code value} needs no {@link #dec} of the old one. */
    default boolean equal(ByteBuffer node, int offsetBytes, byte[] value) {
        byte[] old = new byte[size()];
        node.get(offsetBytes, old);
        return Arrays.equals(old, value);
    }

    /** Plain values with no references (device details, index entries, reference counts). */
    static ValueType plain(int size) {
        return () -> size;
    }
}
