package dev.cairn.daemon;

/**
 * The one naming rule for everything a user names through the daemon (devices, exports, snapshots),
 * checked before anything is stored: 1 to 127 bytes of well-formed UTF-8 (no lone surrogate), no
 * whitespace, no control or format character, none of {@code / : #} (a name is also a word of a
 * table, so it must never look like a {@code mem:}/{@code file:} spec or a comment), and not
 * {@code .} or {@code ..}. It is the device-mapper rule of {@code dm} plus the Unicode checks, so any
 * name that passes is a valid device name, export name and file name part. Other characters
 * ({@code ?}, {@code %}, non-ASCII letters) are allowed; URIs printed for them are percent-encoded.
 *
 * <p>Thread safety: stateless.
 */
public final class Names {
    public static final int MAX_BYTES = 127;

    private Names() {}

    /** Throws a {@link ErrorKind#USAGE} error naming {@code what} and the first bad character. */
    public static void check(String what, String name) {
        String why = problem(name);
        if (why != null) {
            throw new DaemonException(ErrorKind.USAGE, what + ": \"" + printable(name) + "\" (expected: " + why + ")",
                    "names are 1 to " + MAX_BYTES + " bytes of letters, digits and punctuation other than / : #, without spaces");
        }
    }

    /** Null when {@code name} follows the rule, else what is wrong with it. */
    public static String problem(String name) {
        if (name == null || name.isEmpty()) {
            return "a name, not an empty string";
        }
        if (name.equals(".") || name.equals("..")) {
            return "a name other than . and ..";
        }
        int bytes = 0;
        for (int i = 0; i < name.length(); ) {
            int cp = name.codePointAt(i);
            int n = Character.charCount(cp);
            if (Character.isSurrogate((char) cp)) {
                return "well-formed Unicode; it has a lone surrogate U+" + hex(cp) + " at index " + i;
            }
            if (Character.isWhitespace(cp) || Character.isSpaceChar(cp)) {
                return "no whitespace; it has U+" + hex(cp) + " at index " + i;
            }
            int type = Character.getType(cp);
            if (type == Character.CONTROL || type == Character.FORMAT || type == Character.UNASSIGNED
                    || type == Character.PRIVATE_USE) {
                return "no control, format, private-use or unassigned character; it has U+" + hex(cp) + " at index " + i;
            }
            if (cp == '/' || cp == ':' || cp == '#') {
                return "no '" + (char) cp + "'";
            }
            bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            i += n;
        }
        if (bytes > MAX_BYTES) {
            return "at most " + MAX_BYTES + " bytes in UTF-8; it has " + bytes;
        }
        return null;
    }

    /**
     * A path or other word that the daemon writes into a table it generates (a COW image's path):
     * table words are separated by whitespace, so a path with whitespace or a control character is
     * refused up front, naming the character, rather than producing a table that does not parse.
     */
    public static void checkTableWord(String what, String word) {
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            if (Character.isSurrogate((char) cp)) {
                throw new DaemonException(ErrorKind.USAGE, what + ": " + printable(word)
                        + " (expected: well-formed Unicode; it has a lone surrogate at index " + i + ")");
            }
            if (Character.isWhitespace(cp) || Character.isSpaceChar(cp) || Character.isISOControl(cp)) {
                throw new DaemonException(ErrorKind.USAGE, what + ": \"" + printable(word) + "\" (expected: no whitespace or control "
                        + "character, since it goes into a device-mapper table; it has U+" + hex(cp) + " at index " + i + ")",
                        "use a path without spaces (a symbolic link to it works)");
            }
            i += Character.charCount(cp);
        }
    }

    /** {@code s} with lone surrogates and control characters shown as {@code \\uXXXX}, so a message is valid text. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            if (Character.isSurrogate((char) cp) || Character.isISOControl(cp)) {
                b.append(String.format("\\u%04X", cp));
            } else {
                b.appendCodePoint(cp);
            }
            i += Character.charCount(cp);
        }
        return b.toString();
    }

    private static String hex(int cp) {
        return String.format("%04X", cp);
    }
}
