package dev.cairn.nbd.server;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The keys of a psktool file: one {@code username:hexkey} per line (GnuTLS's format, also nbdkit's and qemu's).
 * Blank lines and lines starting with {@code #} are skipped; anything else malformed fails with its line number.
 *
 * <p>Thread safety: immutable. {@link #key} returns a fresh copy each time: Bouncy Castle's TLS 1.2 PSK key
 * exchange zeroes the array it is given (see docs/nbd.md, "TLS").
 */
final class PskKeys {
    private final Map<String, byte[]> keys;
    /** The user names in file order. */
    private final List<String> users;

    private PskKeys(Map<String, byte[]> keys, List<String> users) {
        this.keys = keys;
        this.users = users;
    }

    static PskKeys load(Path file) throws IOException {
        return load(file, "--tls-psk");
    }

    /** {@code option} names where the file came from in messages ({@code tls-psk-file} for the client). */
    static PskKeys load(Path file, String option) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IOException(option + ": " + file + " is missing (expected: a psktool file, "
                    + "made with: psktool -u USER -p " + file + ")", e);
        }
        Map<String, byte[]> keys = new TreeMap<>();
        List<String> users = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int colon = line.indexOf(':');
            String where = file + ":" + (i + 1);
            if (colon <= 0) {
                throw new IOException(where + ": no 'username:hexkey' (expected: psktool's format)");
            }
            String user = line.substring(0, colon);
            byte[] key;
            try {
                key = HexFormat.of().parseHex(line.substring(colon + 1));
            } catch (IllegalArgumentException e) {
                throw new IOException(where + ": the key of '" + user + "' is not hexadecimal", e);
            }
            if (key.length == 0) {
                throw new IOException(where + ": the key of '" + user + "' is empty");
            }
            if (keys.putIfAbsent(user, key) != null) {
                throw new IOException(where + ": user '" + user + "' appears twice");
            }
            users.add(user);
        }
        if (keys.isEmpty()) {
            throw new IOException(option + ": " + file + " has no keys (expected: username:hexkey lines)");
        }
        return new PskKeys(Map.copyOf(keys), List.copyOf(users));
    }

    /** A copy of the key of {@code user}, or null. */
    byte[] key(String user) {
        byte[] k = keys.get(user);
        return k == null ? null : k.clone();
    }

    /** The user names, in the file's order. */
    List<String> users() {
        return users;
    }

    int size() {
        return keys.size();
    }
}
