package dev.cairn.dm;

/**
 * A table (or one target's arguments) is invalid. The message names the line, the target, the
 * argument and what was expected, e.g. {@code line 2: striped: chunk_sectors: 3 (expected: a power
 * of two >= 8)}. A table that fails to load changes nothing: the device keeps its tables.
 */
public final class TableException extends DmException {
    private static final long serialVersionUID = 1L;

    private final int lineNumber;

    /** An error about line {@code lineNumber} (1-based); {@code message} already carries the {@code line N: } prefix. */
    public TableException(int lineNumber, String message) {
        super(message);
        this.lineNumber = lineNumber;
    }

    /** An error about the table as a whole (no line). */
    public TableException(String message) {
        this(0, message);
    }

    public TableException(int lineNumber, String message, Throwable cause) {
        super(message, cause);
        this.lineNumber = lineNumber;
    }

    /** The 1-based line of the table text the error is about, or 0 when it is about the whole table. */
    public int lineNumber() {
        return lineNumber;
    }
}
