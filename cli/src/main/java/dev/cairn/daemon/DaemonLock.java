package dev.cairn.daemon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The exclusive lock that makes one daemon own one state directory. It is an OS file lock
 * ({@code flock}/{@code fcntl} through {@link FileChannel#tryLock()}), so it is released when the
 * daemon dies, even by {@code kill -9}: a stale lock file never blocks a restart.
 *
 * <p>The lock file holds the owner's pid, only so the refusal message can name it.
 *
 * <p>Thread safety: {@link #close()} may be called from any thread, once.
 */
public final class DaemonLock implements AutoCloseable {
    /** Lock files this JVM holds (tests run several daemons in one process). */
    private static final Set<Path> HELD_HERE = ConcurrentHashMap.newKeySet();

    private final Path path;
    private final FileChannel channel;
    private final FileLock lock;

    private DaemonLock(Path path, FileChannel channel, FileLock lock) {
        this.path = path;
        this.channel = channel;
        this.lock = lock;
    }

    /** Takes the lock or throws {@link DaemonException} saying who holds it and what to do. */
    public static DaemonLock acquire(StateDir dir) throws IOException {
        Path path = dir.lockFile();
        // fcntl locks belong to the process, and closing ANY descriptor of the file drops them, so a
        // second attempt from this JVM must not even open the file: it checks the JVM's own set first.
        if (!HELD_HERE.add(path)) {
            throw refused(dir, Long.toString(ProcessHandle.current().pid()));
        }
        FileChannel channel;
        FileLock lock;
        try {
            channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException | RuntimeException e) {
            HELD_HERE.remove(path);
            throw e;
        }
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException | RuntimeException e) {
            channel.close();
            HELD_HERE.remove(path);
            throw e;
        }
        if (lock == null) {
            String owner = readOwner(channel);
            channel.close();
            HELD_HERE.remove(path);
            throw refused(dir, owner);
        }
        byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        channel.truncate(0);
        channel.write(ByteBuffer.wrap(pid), 0);
        channel.force(false);
        return new DaemonLock(path, channel, lock);
    }

    private static DaemonException refused(StateDir dir, String owner) {
        return new DaemonException(ErrorKind.BUSY,
                "another cairn daemon" + (owner.isEmpty() ? "" : " (pid " + owner + ")")
                        + " is already running on state directory " + dir.root(),
                "stop it first (kill -TERM " + (owner.isEmpty() ? "PID" : owner)
                        + "), or start this one on another directory with --state-dir DIR");
    }

    private static String readOwner(FileChannel channel) {
        try {
            ByteBuffer buf = ByteBuffer.allocate(32);
            channel.read(buf, 0);
            return new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
            return "";
        }
    }

    public Path path() {
        return path;
    }

    /** Whether some daemon holds the lock of {@code dir} right now (used by the CLI for its hints). */
    public static boolean isHeld(StateDir dir) {
        if (HELD_HERE.contains(dir.lockFile())) {
            return true;
        }
        if (!Files.exists(dir.lockFile())) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(dir.lockFile(), StandardOpenOption.WRITE)) {
            FileLock l = ch.tryLock();
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
            HELD_HERE.remove(path);
        }
    }
}
