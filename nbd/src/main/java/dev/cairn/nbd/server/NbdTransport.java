package dev.cairn.nbd.server;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

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

    /**
     * True when {@link #sendFile} moves file data without copying it through this process (a socket): only
     * then does a large READ let file stores answer by reference.
     */
    /**
     * Bytes of file ranges sent by copying through memory because the peer did not take them in place (a
     * full socket): a statistic, 0 for a transport that never sends file ranges.
     */
    default long copiedFileRangeBytes() {
        return 0;
    }

    default boolean splices() {
        return false;
    }

    /**
     * True when {@link #sendFile} is cheaper than sending the same bytes from memory, so that file stores
     * should answer large READs with file ranges; false lets only memory stores answer by reference.
     */
    default boolean sendsFileRanges() {
        return false;
    }

    /**
     * Writes {@code lengthBytes} of {@code file} from {@code positionBytes} on, all of them (the data of a
     * referenced read, see {@link dev.cairn.block.SpliceSink}). The default copies through memory; a socket
     * uses {@code sendfile(2)}. Fails when the file ends early: the reply's header promised these bytes.
     */
    default void sendFile(FileChannel file, long positionBytes, long lengthBytes) throws IOException {
        ByteBuffer[] one = {ByteBuffer.allocate((int) Math.min(lengthBytes, 64 * 1024))};
        long pos = positionBytes;
        long end = positionBytes + lengthBytes;
        while (pos < end) {
            ByteBuffer b = one[0].clear().limit((int) Math.min(one[0].capacity(), end - pos));
            while (b.hasRemaining()) {
                if (file.read(b, pos + b.position()) < 0) {
                    throw new EOFException("file ended at " + (pos + b.position()) + " (expected: " + end + " bytes)");
                }
            }
            b.flip();
            while (b.hasRemaining()) {
                write(one, 0, 1);
            }
            pos += b.limit();
        }
    }

    /**
     * Bytes this transport has received and not yet returned by {@link #read} (TLS records read ahead, say):
     * the client has already sent more, so the reader should go on reading rather than write a reply itself.
     * Called by the reader only.
     */
    default int bufferedBytes() {
        return 0;
    }

    /** Makes a blocked or later {@link #read} see end of stream; replies can still be written. */
    void shutdownInput();

    /** Who is on the other side, for messages. */
    String peer();

    @Override
    void close();
}
