package dev.cairn.pdata;

/** A space map has no free block left (Linux {@code -ENOSPC} from {@code sm_*_new_block}). */
public final class NoSpaceException extends MetadataException {
    private static final long serialVersionUID = 1L;

    public NoSpaceException(String message) {
        super(message);
    }
}
