package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImagesTest {
    @TempDir Path tmp;

    /** The info as {@code image info --json} prints it. */
    private static Map<String, Object> asJson(Images.ImageInfo info) {
        return JsonCodec.parseObject(JsonCodec.write(info));
    }

    @Test
    void createsSparseFiles() throws Exception {
        Path p = tmp.resolve("disk.img");
        Images.createSparse(p, 1L << 30);
        Map<String, Object> info = asJson(Images.info(p));
        assertThat(info).containsEntry("sizeBytes", 1L << 30).containsEntry("format", "raw");
        assertThat((Long) info.get("allocatedBytes")).isBetween(0L, 1L << 20);
        assertThatThrownBy(() -> Images.createSparse(p, 4096)).hasMessageContaining("already exists");
        assertThatThrownBy(() -> Images.createSparse(tmp.resolve("odd"), 1000))
                .hasMessageContaining("size: 1000 (expected: a positive multiple of 512 bytes)");
        assertThatThrownBy(() -> Images.createSparse(tmp.resolve("no/such/dir.img"), 4096))
                .hasMessageContaining("does not exist").satisfies(e -> assertThat(((DaemonException) e).hint()).contains("mkdir -p"));
    }

    @Test
    void missingImage() {
        assertThatThrownBy(() -> Images.info(tmp.resolve("nope"))).isInstanceOf(DaemonException.class)
                .hasMessageContaining("does not exist");
    }

    /** A COW image built byte by byte from the Linux format: header, area 0 with 3 exceptions, end marker. */
    @Test
    void readsACowHeaderAndCountsExceptions() throws Exception {
        Path p = tmp.resolve("s.cow");
        int chunkSectors = 8; // 4 KiB chunks: 256 exceptions per area
        long chunkBytes = chunkSectors * 512L;
        Images.createSparse(p, 64 * chunkBytes);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ByteBuffer h = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            h.putInt(0x70416e53).putInt(1).putInt(1).putInt(chunkSectors).flip();
            ch.write(h, 0);
            ByteBuffer area = ByteBuffer.allocate(4 * 16).order(ByteOrder.LITTLE_ENDIAN);
            area.putLong(7).putLong(2).putLong(9).putLong(3).putLong(100).putLong(4).putLong(0).putLong(0).flip();
            ch.write(area, chunkBytes);
        }
        Map<String, Object> info = asJson(Images.info(p));
        assertThat(info).containsEntry("format", "cow");
        @SuppressWarnings("unchecked")
        Map<String, Object> cow = (Map<String, Object>) info.get("cow");
        assertThat(cow).containsEntry("valid", true).containsEntry("version", 1L).containsEntry("chunkSectors", 8L)
                .containsEntry("exceptions", 3L).containsEntry("chunks", 64L).containsEntry("usedChunks", 5L)
                .containsEntry("status", (5 * 8) + "/" + (64 * 8) + " " + (2 * 8));
    }

    @Test
    void reportsAnUnknownCowVersion() throws Exception {
        Path p = tmp.resolve("v2.cow");
        Images.createSparse(p, 1 << 16);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ByteBuffer h = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            h.putInt(0x70416e53).putInt(0).putInt(2).putInt(8).flip();
            ch.write(h, 0);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> cow = (Map<String, Object>) asJson(Images.info(p)).get("cow");
        assertThat(cow).containsEntry("valid", false).containsEntry("version", 2L).containsEntry("exceptions", -1L);
        assertThat((String) cow.get("problem")).contains("2");
    }

    @Test
    void anImageTheFileSystemCannotHoldLeavesNothingBehind() throws Exception {
        // 1 PiB is over ext4's largest file (16 TiB); the write past the end fails with EFBIG. In target/
        // (the build's disk), not /tmp, which may be a tmpfs that takes a sparse file of any size.
        Path img = java.nio.file.Files.createDirectories(Path.of("target", "images-test")).resolve("huge.img");
        java.nio.file.Files.deleteIfExists(img);
        assertThat(java.nio.file.Files.getFileStore(img.getParent()).type()).as("needs ext4 (or another file system whose "
                + "largest file is under 1 PiB)").isIn("ext4", "ext3", "overlay");
        assertThatThrownBy(() -> Images.createSparse(img, 1L << 50)).isInstanceOfSatisfying(DaemonException.class, e -> {
            assertThat(e.getMessage()).contains("huge.img", "cannot make it 1125899906842624 bytes");
            assertThat(e.hint()).contains("smaller size");
        });
        assertThat(img).doesNotExist();
    }
}
