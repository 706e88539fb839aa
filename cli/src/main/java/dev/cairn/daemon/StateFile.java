package dev.cairn.daemon;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Reads and writes {@code state.json}. Writes are atomic ({@link AtomicFiles}): after a crash the file
 * holds the state before or after the change, never a mix. A file that does not parse, or parses
 * to something that is not a valid {@link DaemonState}, is refused with its path and the reason;
 * the daemon never guesses or starts over on its own, since that would silently drop devices.
 *
 * <p>Thread safety: not thread-safe; the daemon calls it under its state lock.
 */
public final class StateFile {
    private final Path path;

    public StateFile(Path path) {
        this.path = path;
    }

    public Path path() {
        return path;
    }

    /** The saved state, or null when there is no state file yet (a first start). */
    public DaemonState load() throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            return null;
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw corrupt("not UTF-8 text");
        }
        try {
            return DaemonState.fromJson(JsonCodec.parseObject(text));
        } catch (JsonCodec.ParseException | IllegalArgumentException e) {
            throw corrupt(e.getMessage());
        }
    }

    private DaemonException corrupt(String why) {
        return new DaemonException(ErrorKind.STATE,
                "state file " + path + " is corrupt: " + why,
                "cairn will not guess what it held. Fix the file by hand, restore it from a backup, "
                        + "or move it away (mv " + path + " " + path + ".bad) to start with an empty state");
    }

    public void save(DaemonState state) throws IOException {
        AtomicFiles.write(path, JsonCodec.writePretty(state.toJson()).getBytes(StandardCharsets.UTF_8));
    }
}
