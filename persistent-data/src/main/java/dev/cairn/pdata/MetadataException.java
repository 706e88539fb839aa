package dev.cairn.pdata;

import java.io.IOException;

/** Metadata that cannot be read or written: an I/O error, a bad checksum, a damaged structure, no space. */
public class MetadataException extends IOException {
    private static final long serialVersionUID = 1L;

    public MetadataException(String message) {
        super(message);
    }

    public MetadataException(String message, Throwable cause) {
        super(message, cause);
    }
}
