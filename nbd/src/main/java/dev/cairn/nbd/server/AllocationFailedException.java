package dev.cairn.nbd.server;

import java.io.IOException;

/**
 * The JVM refused direct memory the budget allowed (its own limit is lower). The request it was for is
 * answered ENOMEM and the connection closes, releasing everything it holds: a stream whose payload was
 * not read cannot go on, and a reader left waiting for budget it will never get was issue 22's leak.
 *
 * <p>Thread safety: immutable once thrown.
 */
final class AllocationFailedException extends IOException {
    private static final long serialVersionUID = 1L;
    final transient Request request;

    AllocationFailedException(Request request, int lengthBytes, OutOfMemoryError cause) {
        super("could not allocate " + lengthBytes + " bytes for " + request + ": " + cause.getMessage(), cause);
        this.request = request;
    }
}
