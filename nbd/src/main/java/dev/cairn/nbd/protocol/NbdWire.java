package dev.cairn.nbd.protocol;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Encoders for the fixed-layout parts of the NBD wire format (see {@link NbdConstants} for the diagram).
 * They write into a caller's {@link ByteBuffer} at its position, so a writer can pack many headers into
 * one direct buffer and send them with a single gathering write. Buffers must be big-endian (the
 * {@code ByteBuffer} default).
 *
 * <p>Thread safety: stateless.
 */
public final class NbdWire {
    private NbdWire() {}

    /** Option reply header; {@code lengthBytes} of payload must follow. */
    public static void putOptionReply(ByteBuffer b, int option, int replyType, int lengthBytes) {
        b.putLong(OPTION_REPLY_MAGIC).putInt(option).putInt(replyType).putInt(lengthBytes);
    }

    /** Simple reply header ({@value NbdConstants#SIMPLE_REPLY_BYTES} bytes). */
    public static void putSimpleReply(ByteBuffer b, int error, long cookie) {
        b.putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
    }

    /** Structured reply chunk header ({@value NbdConstants#CHUNK_HEADER_BYTES} bytes). */
    public static void putChunkHeader(ByteBuffer b, int flags, int type, long cookie, int lengthBytes) {
        b.putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie).putInt(lengthBytes);
    }

    /** A whole NBD_REPLY_TYPE_ERROR chunk with the DONE flag. */
    public static void putErrorChunk(ByteBuffer b, long cookie, int error, String message) {
        byte[] msg = utf8(message);
        putChunkHeader(b, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, cookie, 6 + msg.length);
        b.putInt(error).putShort((short) msg.length).put(msg);
    }

    /** Bytes {@link #putErrorChunk} writes for {@code message}. */
    public static int errorChunkBytes(String message) {
        return CHUNK_HEADER_BYTES + 6 + utf8(message).length;
    }

    /** Request header ({@value NbdConstants#REQUEST_HEADER_BYTES} bytes); a client's encoder, used by tests and tools. */
    public static void putRequest(ByteBuffer b, int flags, int type, long cookie, long offsetBytes, int lengthBytes) {
        b.putInt(REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie).putLong(offsetBytes)
                .putInt(lengthBytes);
    }

    /** Client option header; {@code lengthBytes} of data must follow. */
    public static void putOption(ByteBuffer b, int option, int lengthBytes) {
        b.putLong(IHAVEOPT).putInt(option).putInt(lengthBytes);
    }

    /** UTF-8 bytes of {@code s}, cut at {@link NbdConstants#MAX_STRING_BYTES} (on a character boundary). */
    public static byte[] utf8(String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length <= MAX_STRING_BYTES) {
            return bytes;
        }
        int end = MAX_STRING_BYTES;
        while (end > 0 && (bytes[end] & 0xC0) == 0x80) {
            end--; // do not split a multi-byte character
        }
        byte[] cut = new byte[end];
        System.arraycopy(bytes, 0, cut, 0, end);
        return cut;
    }

    /** Human-readable transmission flags, e.g. {@code HAS_FLAGS|SEND_FLUSH}. */
    public static String transmissionFlagsToString(int flags) {
        String[] names = {"HAS_FLAGS", "READ_ONLY", "SEND_FLUSH", "SEND_FUA", "ROTATIONAL", "SEND_TRIM",
                "SEND_WRITE_ZEROES", "SEND_DF", "CAN_MULTI_CONN", "SEND_RESIZE", "SEND_CACHE", "SEND_FAST_ZERO"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 16; i++) {
            if ((flags & (1 << i)) != 0) {
                if (!sb.isEmpty()) {
                    sb.append('|');
                }
                sb.append(i < names.length ? names[i] : "BIT" + i);
            }
        }
        return sb.isEmpty() ? "-" : sb.toString();
    }
}
