package dev.cairn.daemon;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads the control protocol's lines from one connection with two bounds: a line is at most
 * {@code maxLineBytes}, and the bytes buffered for all connections together never exceed the shared
 * budget (issue 22 item 10: 24 connections each holding an unterminated 4 MiB line kept 139 MiB).
 * The buffer grows in steps that are taken from the budget before they are allocated and returned
 * when the line is complete or the connection closes; between requests a connection holds only its
 * small read buffer.
 *
 * <p>Thread safety: one reader thread per instance; the budget is shared and atomic.
 */
final class ControlLineReader implements AutoCloseable {
    /** A line broke a bound; the message says which, for the error reply. */
    static final class LimitException extends IOException {
        private static final long serialVersionUID = 1L;

        LimitException(String message) {
            super(message);
        }
    }

    private static final int INITIAL = 4096;

    private final InputStream in;
    private final int maxLineBytes;
    private final AtomicLong budget;
    private final byte[] chunk = new byte[INITIAL];
    private int chunkPos;
    private int chunkEnd;
    private byte[] line = new byte[0];
    private long reserved; // bytes of the budget this reader holds

    ControlLineReader(InputStream in, int maxLineBytes, AtomicLong budget) {
        this.in = in;
        this.maxLineBytes = maxLineBytes;
        this.budget = budget;
    }

    /** The next line without its newline, or null at end of stream before any byte. */
    String readLine() throws IOException {
        int len = 0;
        try {
            while (true) {
                if (chunkPos == chunkEnd) {
                    int n = in.read(chunk, 0, chunk.length);
                    if (n < 0) {
                        if (len == 0) {
                            return null;
                        }
                        throw new IOException("connection closed in the middle of a message");
                    }
                    chunkPos = 0;
                    chunkEnd = n;
                }
                int start = chunkPos;
                int nl = -1;
                for (int i = chunkPos; i < chunkEnd; i++) {
                    if (chunk[i] == '\n') {
                        nl = i;
                        break;
                    }
                }
                int take = (nl < 0 ? chunkEnd : nl) - start;
                if (len + take > maxLineBytes) {
                    throw new LimitException("message longer than " + maxLineBytes + " bytes");
                }
                ensure(len + take);
                System.arraycopy(chunk, start, line, len, take);
                len += take;
                chunkPos = nl < 0 ? chunkEnd : nl + 1;
                if (nl >= 0) {
                    return new String(line, 0, len, StandardCharsets.UTF_8);
                }
            }
        } finally {
            if (line.length > INITIAL) {
                release(); // a big line's buffer goes back as soon as the line is read (or fails)
            }
        }
    }

    private void ensure(int needed) throws LimitException {
        if (needed <= line.length) {
            return;
        }
        int size = Math.min(maxLineBytes, Math.max(needed, Math.max(INITIAL, line.length * 2)));
        long more = size - reserved;
        long after = budget.addAndGet(-more);
        if (after < 0) {
            budget.addAndGet(more);
            throw new LimitException("the daemon holds too much unfinished control input from all its clients "
                    + "(more than the control memory budget); retry when other clients are done");
        }
        reserved = size;
        line = Arrays.copyOf(line, size);
    }

    private void release() {
        budget.addAndGet(reserved);
        reserved = 0;
        line = new byte[0];
    }

    /** Returns what this reader holds to the budget. */
    @Override
    public void close() {
        release();
    }
}
