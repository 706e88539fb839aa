package dev.cairn.daemon.proto;

/**
 * A failed request, as the daemon sends it ({@code {"ok":false,"error":{...}}}) and as {@code --json}
 * prints it to standard error ({@code {"error":{...}}}).
 *
 * @param kind    the lower-case name of an {@code ErrorKind}, e.g. {@code not-found}
 * @param message what went wrong
 * @param hint    what to do next (may be empty)
 */
public record ErrorReply(String kind, String message, String hint) {
    public ErrorReply {
        hint = hint == null ? "" : hint;
    }

    /** The form {@code --json} prints on standard error. */
    public record Printed(ErrorReply error) {}
}
