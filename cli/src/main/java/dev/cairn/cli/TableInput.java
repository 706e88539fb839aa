package dev.cairn.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Where a table comes from: {@code --table TEXT}, {@code --table-file FILE}, or {@code -} (stdin),
 * exactly one. Relative {@code file:} references are made absolute against this shell's directory,
 * because the daemon runs elsewhere.
 */
final class TableInput {
    @Option(names = "--table", paramLabel = "TEXT",
            description = "The table: lines of '<start> <length> <target> <args...>' in 512-byte sectors (newlines separate lines).")
    String text;

    @Option(names = "--table-file", paramLabel = "FILE", description = "Read the table from FILE.")
    Path file;

    /**
     * The table text; IllegalArgumentException (a usage error) unless exactly one source was given.
     * {@code positional} is the command's optional {@code FILE|-} parameter (picocli does not allow a
     * mixin's positional parameter to follow the command's own).
     */
    String read(String positional, InputStream stdin) throws IOException {
        int given = (text != null ? 1 : 0) + (file != null ? 1 : 0) + (positional != null ? 1 : 0);
        if (given != 1) {
            throw new IllegalArgumentException("table: " + (given == 0 ? "missing" : "given " + given + " times")
                    + " (expected: exactly one of --table TEXT, --table-file FILE or - for standard input)");
        }
        String raw;
        if (text != null) {
            raw = text;
        } else if (file != null) {
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("--table-file: " + file + " (expected: an existing file)");
            }
            raw = Files.readString(file);
        } else if (positional.equals("-")) {
            raw = new String(stdin.readAllBytes(), StandardCharsets.UTF_8);
        } else {
            Path p = Path.of(positional);
            if (!Files.isRegularFile(p)) {
                throw new IllegalArgumentException("table file: " + positional + " (expected: an existing file, or - for standard input)");
            }
            raw = Files.readString(p);
        }
        return absolutizeFileRefs(raw, Path.of("").toAbsolutePath());
    }

    /** Rewrites every {@code file:RELATIVE} token to {@code file:/absolute/path} against {@code cwd}. */
    static String absolutizeFileRefs(String table, Path cwd) {
        StringBuilder out = new StringBuilder(table.length() + 32);
        int i = 0;
        while (i < table.length()) {
            char c = table.charAt(i);
            boolean tokenStart = i == 0 || Character.isWhitespace(table.charAt(i - 1));
            if (tokenStart && table.startsWith("file:", i)) {
                int end = i;
                while (end < table.length() && !Character.isWhitespace(table.charAt(end))) {
                    end++;
                }
                String path = table.substring(i + 5, end);
                if (!path.isEmpty() && !path.startsWith("/")) {
                    path = cwd.resolve(path).normalize().toString();
                }
                out.append("file:").append(path);
                i = end;
                continue;
            }
            out.append(c);
            i++;
        }
        return out.toString();
    }
}
