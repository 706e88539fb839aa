package dev.cairn.daemon;

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
 * <p>The COW reading here is deliberately read-only and minimal (header, then the metadata areas
 * until the end marker), following the format in docs/formats/cow.md: it must work on an image that
 * a running daemon has open, and must never write.
 */
public final class Images {
    static final int SNAP_MAGIC = 0x70416e53;
    private static final int EXCEPTION_BYTES = 16;

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
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                StandardOpenOption.SPARSE)) {
            // Extending by a write of the last byte leaves everything before it a hole.
            ch.write(ByteBuffer.wrap(new byte[1]), sizeBytes - 1);
            ch.force(true);
        } catch (FileAlreadyExistsException e) {
            throw new DaemonException(ErrorKind.EXISTS, "image " + path + " already exists",
                    "pick another path, or remove it first if it holds nothing you need");
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
                m.put("cow", cowInfo(raf.getChannel(), header, size));
            } else {
                m.put("format", "raw");
            }
        }
        return m;
    }

    private static Map<String, Object> cowInfo(FileChannel ch, ByteBuffer header, long sizeBytes) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        int valid = header.getInt(4);
        int version = header.getInt(8);
        long chunkSectors = Integer.toUnsignedLong(header.getInt(12));
        m.put("valid", valid != 0);
        m.put("version", (long) version);
        m.put("chunkSectors", chunkSectors);
        if (version != 1 || chunkSectors == 0 || Long.bitCount(chunkSectors) != 1) {
            m.put("exceptions", -1L);
            m.put("problem", version != 1 ? "unknown version " + version + " (expected: 1)"
                    : "chunk size " + chunkSectors + " (expected: a power of two)");
            return m;
        }
        long chunkBytes = chunkSectors * 512;
        long perArea = chunkBytes / EXCEPTION_BYTES;
        long chunks = sizeBytes / chunkBytes;
        long count = 0;
        long lastNewChunk = 1;
        ByteBuffer area = ByteBuffer.allocate(Math.toIntExact(chunkBytes)).order(ByteOrder.LITTLE_ENDIAN);
        scan:
        for (long a = 0; ; a++) {
            long location = 1 + a * (perArea + 1);
            if (location >= chunks) {
                break;
            }
            area.clear();
            while (area.hasRemaining()) {
                if (ch.read(area, location * chunkBytes + area.position()) < 0) {
                    break;
                }
            }
            for (int i = 0; i < perArea; i++) {
                long newChunk = area.getLong(i * EXCEPTION_BYTES + 8);
                if (newChunk == 0) {
                    break scan;
                }
                lastNewChunk = Math.max(lastNewChunk, newChunk);
                count++;
            }
        }
        m.put("exceptions", count);
        m.put("chunks", chunks);
        // Chunks in use: the header, the metadata areas so far and the data chunks (as Linux's status counts).
        m.put("usedChunks", Math.min(chunks, lastNewChunk + 1));
        return m;
    }
}
