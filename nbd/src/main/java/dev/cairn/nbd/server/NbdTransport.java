package dev.cairn.nbd.server;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The byte stream of one connection: a TCP or Unix socket, or an in-memory channel in tests. Reads and
 * writes block; one thread may read while another writes.
 *
 * <p>Thread safety: {@link #read} is called by one thread; {@link #write} calls never overlap (the reply
 * writer serializes them) but may come from the reader's thread as well as the writer's; a read and a
 * write may run at the same time. {@link #shutdownInput} and {@link #close} may be called from any thread
 * and must wake a blocked reader or writer.
 */
interface NbdTransport extends Closeable {
    /** Reads into {@code dst}; -1 at end of stream. */
    int read(ByteBuffer dst) throws IOException;

    /** Gathering write of {@code srcs[offset, offset + length)}; may write only part. */
    long write(ByteBuffer[] srcs, int offset, int length) throws IOException;

    /** Makes a blocked or later {@link #read} see end of stream; replies can still be written. */
    void shutdownInput();

    /** Who is on the other side, for messages. */
    String peer();

    @Override
    void close();
}
