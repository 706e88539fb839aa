package dev.cairn.daemon;

/**
 * A failure to report to a user: what went wrong ({@link #getMessage()}) and what to do next
 * ({@link #hint()}, may be empty). Thrown by daemon operations and carried over the control
 * protocol unchanged.
 */
public final class DaemonException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorKind kind;
    private final String hint;

    public DaemonException(ErrorKind kind, String message, String hint) {
        super(message);
        this.kind = kind;
        this.hint = hint == null ? "" : hint;
    }

    public DaemonException(ErrorKind kind, String message, String hint, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.hint = hint == null ? "" : hint;
    }

    public DaemonException(ErrorKind kind, String message) {
        this(kind, message, "");
    }

    public ErrorKind kind() {
        return kind;
    }

    public String hint() {
        return hint;
    }
}
