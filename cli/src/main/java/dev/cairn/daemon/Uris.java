package dev.cairn.daemon;

import java.nio.charset.StandardCharsets;

/**
 * RFC 3986 percent-encoding for the NBD URIs the daemon prints ({@code nbd://host:port/EXPORT},
 * {@code nbd+unix:///EXPORT?socket=PATH}): every byte of the UTF-8 form that is not unreserved
 * ({@code A-Z a-z 0-9 - . _ ~}) is written {@code %XX}, so an export named {@code a?b} or {@code 日本}
 * gives a URI that qemu-img and libnbd parse back to the same name. In the query, {@code /} is
 * kept (RFC 3986 allows it there), so socket paths stay readable.
 *
 * <p>Thread safety: stateless.
 */
public final class Uris {
    private Uris() {}

    /** An export name as a URI path segment. */
    public static String encodePath(String s) {
        return encode(s, false);
    }

    /** A query parameter's value (a socket path). */
    public static String encodeQuery(String s) {
        return encode(s, true);
    }

    private static String encode(String s, boolean keepSlash) {
        StringBuilder b = new StringBuilder();
        for (byte x : s.getBytes(StandardCharsets.UTF_8)) {
            int c = x & 0xff;
            if (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
                    || c == '~' || keepSlash && c == '/') {
                b.append((char) c);
            } else {
                b.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            }
        }
        return b.toString();
    }
}
