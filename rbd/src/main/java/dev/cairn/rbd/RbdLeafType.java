package dev.cairn.rbd;

import dev.cairn.block.BlockDevice;
import dev.cairn.dm.LeafType;
import java.io.IOException;
import java.util.Optional;

/**
 * The {@code rbd:} leaf: {@code rbd:POOL/IMAGE[@SNAP][?conf=PATH&id=USER&timeout=SECONDS]} in a table opens
 * an {@link RbdDevice}; references to the same image with the same parameters share one.
 *
 * <p>Thread safety: stateless.
 */
public final class RbdLeafType implements LeafType {
    @Override
    public String scheme() {
        return "rbd";
    }

    @Override
    public String syntax() {
        return "rbd:POOL/IMAGE[@SNAP]";
    }

    @Override
    public String checkSyntax(String spec) {
        try {
            RbdSpec.parse(spec);
            return null;
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            int at = m.indexOf("(expected: ");
            return at < 0 ? m : m.substring(at + "(expected: ".length(), m.length() - 1);
        }
    }

    @Override
    public Optional<String> shareKey(String spec) {
        return Optional.of(spec);
    }

    @Override
    public BlockDevice open(String spec, String holderName) throws IOException {
        try {
            return RbdDevice.open(RbdSpec.parse(spec));
        } catch (IOException e) {
            throw new IOException("an RBD image that can be opened; " + e.getMessage(), e);
        } catch (LinkageError e) {
            // librbd missing: the class's initializer failed (first time) or the class is unusable (later).
            Throwable why = e.getCause() != null ? e.getCause() : e;
            throw new IOException("an RBD image that can be opened; librbd is not usable here: " + why.getMessage(), e);
        }
    }
}
