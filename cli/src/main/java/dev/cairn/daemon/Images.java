package dev.cairn.daemon;

import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.snapshot.CowInspector;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Image files: sparse creation ({@code image create}) and inspection ({@code image info}), including
 * the header and exception count of a Linux persistent snapshot COW image.
 *
 * <p>COW images are read with the snapshot module's {@link CowInspector} over a read-only
 * {@link FileStore}: it works on an image a running daemon has open, and never writes.
 */
public final class Images {
    static final int SNAP_MAGIC = 0x70416e53;

    private Images() {}

    /** Creates a sparse file of {@code sizeBytes} (a multiple of 512); refuses to overwrite. */
    public static void createSparse(Path path, long sizeBytes) throws IOException {
        if (sizeBytes <= 0 || sizeBytes % 512 != 0) {
            throw new DaemonException(ErrorKind.USAGE, "size: " + sizeBytes + " (expected: a positive multiple of 512 bytes)");
        }
        Path parent = path.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new DaemonException(ErrorKind.FAILED, "directory " + parent + " does not exist", "create it first (mkdir -p " + parent + ")");
        }
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.SPARSE);
        } catch (FileAlreadyExistsException e) {
            throw new DaemonException(ErrorKind.EXISTS, "image " + path + " already exists",
                    "pick another path, or remove it first if it holds nothing you need");
        }
        try (ch) {
            // Extending by a write of the last byte leaves everything before it a hole.
            ch.write(ByteBuffer.wrap(new byte[1]), sizeBytes - 1);
            ch.force(true);
        } catch (IOException e) {
            // A failed command leaves nothing behind (a 1P image used to leave a 0-byte file).
            Files.deleteIfExists(path);
            throw new DaemonException(ErrorKind.FAILED, "image " + path + ": cannot make it " + sizeBytes + " bytes: "
                    + e.getMessage(), "the file system may not allow files that big; pick a smaller size or another directory", e);
        }
        AtomicFiles.syncDirectory(path.toAbsolutePath().getParent());
    }

    /** What {@code image info} shows; keys are stable (they are the {@code --json} output). */
    public static Map<String, Object> info(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "image " + path + " does not exist",
                    "create one with: cairn image create " + path + " SIZE");
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("path", path.toAbsolutePath().toString());
        long size;
        boolean blockDevice = !Files.isRegularFile(path);
        try (RandomAccessFile raf = new RandomAccessFile(path.toFile(), "r")) {
            size = blockDevice ? raf.getChannel().size() : Files.size(path);
            m.put("sizeBytes", size);
            m.put("allocatedBytes", blockDevice ? -1L : FileStats.allocatedBytes(path));
            ByteBuffer header = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            raf.getChannel().read(header, 0);
            header.flip();
            if (header.remaining() == 16 && header.getInt(0) == SNAP_MAGIC) {
                m.put("format", "cow");
                m.put("cow", cowInfo(path, header));
            } else {
                m.put("format", "raw");
            }
        }
        return m;
    }

    /** The COW's header and exception table, read through the snapshot module's own reader, never writing. */
    private static Map<String, Object> cowInfo(Path path, ByteBuffer header) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("valid", header.getInt(4) != 0);
        m.put("version", (long) header.getInt(8));
        m.put("chunkSectors", Integer.toUnsignedLong(header.getInt(12)));
        SubmitterConfig sc = SubmitterConfig.defaults().withName("cairn-image").withWatchdog(null, r -> { });
        try (Submitter submitter = Submitter.create(sc);
                FileStore store = FileStore.open(path, FileStoreConfig.defaults().withReadOnly(true))) {
            CowInspector.CowInfo ci = CowInspector.inspect(submitter, store);
            m.put("exceptions", ci.exceptions());
            m.put("exceptionsPerArea", (long) ci.exceptionsPerArea());
            m.put("chunks", ci.cowSectors() / Math.max(1, ci.chunkSectors()));
            m.put("usedChunks", ci.nextFreeChunk());
            m.put("status", ci.statusLine());
        } catch (IOException | RuntimeException e) {
            m.put("exceptions", -1L);
            m.put("problem", e.getMessage());
        }
        return m;
    }
}
