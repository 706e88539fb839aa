package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import java.io.IOException;
import java.util.Optional;

/**
 * A kind of leaf device a table can name directly as {@code SCHEME:REST} ({@code mem:64M},
 * {@code file:/var/img}, {@code rbd:pool/image}, {@code nbd://host/export}), found through
 * {@link java.util.ServiceLoader} like {@link TargetType}s: a module that provides a leaf lists its
 * type in {@code META-INF/services/dev.cairn.dm.LeafType}, so dm never depends on it.
 *
 * <p>The registry calls {@link #checkSyntax} while a table is parsed (no I/O), then {@link #open}
 * without holding any registry lock (opening a remote leaf waits on the network). References with
 * the same {@link #shareKey} share one opened device, counted by the tables that use it; the device
 * is closed (if it is {@link AutoCloseable}) when the last such table is destroyed.
 *
 * <p>Thread safety: implementations must be safe for concurrent calls (one instance serves a whole
 * registry).
 */
public interface LeafType {
    /** The scheme, without the colon: {@code file}, {@code nbd+unix}. Lower case. */
    String scheme();

    /** One line for messages and {@code --help}: the reference's syntax, e.g. {@code mem:SIZE}. */
    String syntax();

    /**
     * Checks {@code spec} (the whole reference, scheme included) for syntax only. Returns null when it is
     * well formed, else what was expected (the part of a {@code "(expected: ...)"} message).
     */
    String checkSyntax(String spec);

    /**
     * The key under which an opened device is shared by every reference that names the same thing (a
     * normalized path, a pool/image pair), or empty when each reference gets a device of its own.
     */
    Optional<String> shareKey(String spec);

    /**
     * Opens the device {@code spec} names. May block on I/O. {@code holderName} names the device whose
     * table asked, for leaves that are private to one table ({@code mem:}). A problem is an
     * {@link IOException} whose message says what is wrong with the target (it becomes the text after
     * "expected: ..." in the table error).
     */
    BlockDevice open(String spec, String holderName) throws IOException;
}
