package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.Sizes;
import dev.cairn.block.store.MemoryStore;
import java.util.Optional;

/**
 * {@code mem:SIZE}: a new {@link MemoryStore} for each reference (two {@code mem:1M} in one table are
 * two stores), gone with its table.
 *
 * <p>Thread safety: stateless.
 */
public final class MemLeafType implements LeafType {
    static final String PREFIX = "mem:";

    @Override
    public String scheme() {
        return "mem";
    }

    @Override
    public String syntax() {
        return "mem:SIZE";
    }

    @Override
    public String checkSyntax(String spec) {
        return bytes(spec) > 0 ? null : "mem:SIZE with a size that is a positive multiple of 4K, such as mem:64M";
    }

    @Override
    public Optional<String> shareKey(String spec) {
        return Optional.empty();
    }

    @Override
    public BlockDevice open(String spec, String holderName) {
        return new MemoryStore(holderName + "/" + spec, bytes(spec));
    }

    private static long bytes(String spec) {
        if (!spec.startsWith(PREFIX)) {
            return -1;
        }
        long bytes = Sizes.parse(spec.substring(PREFIX.length())).orElse(-1);
        return bytes > 0 && bytes % MemoryStore.PAGE_BYTES == 0 ? bytes : -1;
    }
}
