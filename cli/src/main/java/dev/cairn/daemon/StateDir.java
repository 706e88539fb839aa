package dev.cairn.daemon;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;

/**
 * Where a daemon keeps its state and where the CLI finds it: {@code --state-dir}, else
 * {@code $CAIRN_HOME}, else {@code $XDG_DATA_HOME/cairn}, else {@code ~/.local/share/cairn}.
 *
 * <pre>
 *   STATE_DIR/
 *     cairn.lock     held (flock) by the running daemon; holds its pid for messages
 *     state.json     devices, tables, exports, snapshots (written atomically on every change)
 *     control.sock   the control socket (mode 0600)
 *     nbd.sock       the NBD Unix socket
 *     images/        files the daemon created: vol0.img, snapshot COW images
 * </pre>
 *
 * The directory is created with mode 0700 so the sockets inside are private from the moment they
 * are bound (a Unix socket's own mode is set only after bind).
 *
 * @param root absolute, normalized path of the state directory
 */
public record StateDir(Path root) {
    public static final String ENV_CAIRN_HOME = "CAIRN_HOME";

    public StateDir {
        root = root.toAbsolutePath().normalize();
    }

    /** Resolves the state directory from the flag (may be null), the environment and the home directory. */
    public static StateDir resolve(Path flag, Map<String, String> env, String userHome) {
        if (flag != null) {
            return new StateDir(flag);
        }
        String home = env.get(ENV_CAIRN_HOME);
        if (home != null && !home.isBlank()) {
            return new StateDir(Path.of(home));
        }
        String xdg = env.get("XDG_DATA_HOME");
        // The XDG spec says relative values are invalid and must be ignored.
        if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) {
            return new StateDir(Path.of(xdg, "cairn"));
        }
        return new StateDir(Path.of(userHome, ".local", "share", "cairn"));
    }

    /** {@link #resolve(Path, Map, String)} with this process's environment. */
    public static StateDir resolve(Path flag) {
        return resolve(flag, System.getenv(), System.getProperty("user.home"));
    }

    public Path lockFile() {
        return root.resolve("cairn.lock");
    }

    public Path stateFile() {
        return root.resolve("state.json");
    }

    public Path controlSocket() {
        return root.resolve("control.sock");
    }

    public Path nbdSocket() {
        return root.resolve("nbd.sock");
    }

    public Path imagesDir() {
        return root.resolve("images");
    }

    /** Creates the directory (mode 0700) and its images/ folder if missing. */
    public void create() throws IOException {
        createPrivateDir(root);
        createPrivateDir(imagesDir());
    }

    private static void createPrivateDir(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        try {
            Files.createDirectories(dir.getParent());
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw new IOException(dir + " exists and is not a directory (expected: a state directory; pick another with --state-dir)");
            }
        } catch (UnsupportedOperationException e) {
            Files.createDirectories(dir);
        }
    }

    @Override
    public String toString() {
        return root.toString();
    }
}
