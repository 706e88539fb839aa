package dev.cairn.daemon;

import com.fasterxml.jackson.annotation.JsonInclude;
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

    /**
     * What {@code image info} shows; its members are the {@code --json} output.
     *
     * @param allocatedBytes bytes the file system allocated, or -1 for a block device
     * @param format         {@code cow} (a snapshot exception store) or {@code raw}
     * @param cow            with {@code cow}: the header and exception table
     */
    public record ImageInfo(String path, long sizeBytes, long allocatedBytes, String format,
            @JsonInclude(JsonInclude.Include.NON_NULL) CowInfo cow) {}

    /**
     * A COW image's header, and its exception table when it can be read ({@code problem} says why not;
     * {@code exceptions} is then -1).
     */
    public record CowInfo(boolean valid, long version, long chunkSectors, long exceptions,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long exceptionsPerArea,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long chunks,
            @JsonInclude(JsonInclude.Include.NON_NULL) Long usedChunks,
            @JsonInclude(JsonInclude.Include.NON_NULL) String status,
            @JsonInclude(JsonInclude.Include.NON_NULL) String problem) {}

    /** What {@code image info} shows. */
    public static ImageInfo info(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "image " + path + " does not exist",
                    "create one with: cairn image create " + path + " SIZE");
        }
        boolean blockDevice = !Files.isRegularFile(path);
        try (RandomAccessFile raf = new RandomAccessFile(path.toFile(), "r")) {
            long size = blockDevice ? raf.getChannel().size() : Files.size(path);
            long allocated = blockDevice ? -1L : FileStats.allocatedBytes(path);
            ByteBuffer header = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            raf.getChannel().read(header, 0);
            header.flip();
            boolean cow = header.remaining() == 16 && header.getInt(0) == SNAP_MAGIC;
            return new ImageInfo(path.toAbsolutePath().toString(), size, allocated, cow ? "cow" : "raw",
                    cow ? cowInfo(path, header) : null);
        }
    }

    /** The COW's header and exception table, read through the snapshot module's own reader, never writing. */
    private static CowInfo cowInfo(Path path, ByteBuffer header) {
        boolean valid = header.getInt(4) != 0;
        long version = header.getInt(8);
        long chunkSectors = Integer.toUnsignedLong(header.getInt(12));
        SubmitterConfig sc = SubmitterConfig.defaults().withName("cairn-image").withWatchdog(null, r -> { });
        try (Submitter submitter = Submitter.create(sc);
                FileStore store = FileStore.open(path, FileStoreConfig.defaults().withReadOnly(true))) {
            CowInspector.CowInfo ci = CowInspector.inspect(submitter, store);
            return new CowInfo(valid, version, chunkSectors, ci.exceptions(), (long) ci.exceptionsPerArea(),
                    ci.cowSectors() / Math.max(1, ci.chunkSectors()), ci.nextFreeChunk(), ci.statusLine(), null);
        } catch (IOException | RuntimeException e) {
            return new CowInfo(valid, version, chunkSectors, -1, null, null, null, null, e.getMessage());
        }
    }
}
