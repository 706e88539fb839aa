package dev.cairn.snapshot;

import java.io.IOException;

/**
 * A COW device whose header Cairn refuses: an unknown magic, an unsupported disk version or an
 * impossible chunk size. Linux refuses the same devices ({@code -ENXIO "Invalid or corrupt
 * snapshot"}, {@code -EINVAL "unable to handle snapshot disk version"}).
 */
public final class CowFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    public CowFormatException(String message) {
        super(message);
    }
}
