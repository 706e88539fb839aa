package dev.cairn.block.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * FileStore on a real block device: a loop device over a temporary file (needs root and {@code losetup};
 * skipped, with the reason, where either is missing).
 */
@Timeout(120)
class FileStoreBlockDeviceIT {
    private static final long SIZE = 8 << 20;
    private static Path backing;
    private static String loop;
    private static String skipReason;

    @BeforeAll
    static void attach() throws Exception {
        backing = Files.createTempFile("cairn-loop", ".img");
        try (var f = new java.io.RandomAccessFile(backing.toFile(), "rw")) {
            f.setLength(SIZE);
        }
        try {
            Process p = new ProcessBuilder("losetup", "-f", "--show", backing.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0 || !out.startsWith("/dev/loop")) {
                skipReason = "losetup failed: " + out;
            } else {
                loop = out;
            }
        } catch (IOException e) {
            skipReason = "no losetup: " + e.getMessage();
        }
        if (skipReason != null) {
            System.out.println("SKIPPING FileStore block-device tests: " + skipReason);
        }
    }

    @AfterAll
    static void detach() throws Exception {
        if (loop != null) {
            new ProcessBuilder("losetup", "-d", loop).inheritIO().start().waitFor(20, TimeUnit.SECONDS);
        }
        Files.deleteIfExists(backing);
    }

    @Test
    void aLoopDeviceWorksLikeAFileBufferedAndDirect() throws IOException {
        assumeTrue(loop != null, () -> "skipped: " + skipReason);
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK)) {
            StoreModel model;
            try (FileStore store = FileStore.open(Path.of(loop), FileStoreConfig.defaults())) {
                assertThat(store.capacitySectors()).isEqualTo(SIZE / 512);
                // a block device reports no holes: all data
                assertThat(StoreModel.extents(store, 0, store.capacitySectors()))
                        .containsExactly(new long[] {0, SIZE / 512, 0});
                model = new StoreModel(StoreModel.seed(), 0, (int) (SIZE / 512), 1, StoreModel.Memory.MIXED);
                model.run(submitter, store, 400, 256);
                model.verifyAll(submitter, store);
                assertThat(StoreModel.flush(submitter, store)).isEqualTo(BioStatus.OK);
            }
            try (FileStore direct = FileStore.open(Path.of(loop), FileStoreConfig.defaults().withDirect(true))) {
                model.verifyAll(submitter, direct);
                StoreModel aligned = new StoreModel(StoreModel.seed(), 0, (int) (SIZE / 512), 8, StoreModel.Memory.NATIVE_PAGES);
                System.arraycopy(model.bytes, 0, aligned.bytes, 0, model.bytes.length); // the device as left above
                aligned.run(submitter, direct, 300, 256);
                aligned.verifyAll(submitter, direct);
                assertThat(StoreModel.range(submitter, direct, BioOp.WRITE_ZEROES, BioFlags.NOUNMAP, 0, 64))
                        .isEqualTo(BioStatus.OK);
                assertThat(StoreModel.read(submitter, direct, 0, 64 * 512)).containsOnly(0);
                assertThat(StoreModel.flush(submitter, direct)).isEqualTo(BioStatus.OK);
            }
            // what the device holds is in the backing file
            byte[] file = Files.readAllBytes(backing);
            assertThat(java.util.Arrays.copyOfRange(file, 0, 64 * 512)).containsOnly(0);
        }
    }
}
