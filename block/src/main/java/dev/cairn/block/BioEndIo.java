package dev.cairn.block;

/**
 * The end-io callback of a bio (Linux {@code bi_end_io}). It runs exactly once, on whatever
 * thread completes the bio, after {@link Bio#status()} is final. A pooled bio goes back to its
 * set as soon as this returns: read what you need from it here, never keep it.
 */
@FunctionalInterface
public interface BioEndIo {
    void endIo(Bio bio);
}
