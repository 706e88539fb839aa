package dev.cairn.dm.targets.logwrites;

import java.io.IOException;

/** A write log is not in the dm-log-writes format, or an entry in it is malformed; the message says where. */
public final class LogFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    public LogFormatException(String message) {
        super(message);
    }
}
