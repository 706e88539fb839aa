package dev.cairn.block.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
 * A sparse image larger than its file system: writes past the free space fail with NOSPC, and the store
 * keeps working. Runs on a 256 KiB tmpfs (needs root and {@code mount}; skipped, with the reason, otherwise).
 */
@Timeout(60)
class FileStoreNoSpaceIT {
    private static Path mountPoint;
    private static boolean mounted;
    private static String skipReason;

    @BeforeAll
    static void mountTinyFileSystem() throws Exception {
        mountPoint = Files.createTempDirectory("cairn-nospc");
        String out = run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mountPoint.toString());
        if (out == null) {
            mounted = true;
        } else {
            skipReason = "mount failed: " + out;
            System.out.println("SKIPPING FileStore no-space test: " + skipReason);
        }
    }

    @AfterAll
    static void unmount() throws Exception {
        if (mounted) {
            run("umount", mountPoint.toString());
        }
        Files.deleteIfExists(mountPoint);
    }

    /** Runs a command; null when it succeeded, else its output. */
    private static String run(String... command) throws InterruptedException {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0 ? null : out + " (exit " + p.exitValue() + ")";
        } catch (IOException e) {
            return e.getMessage();
        }
    }

    @Test
    void writesPastTheFreeSpaceFailWithNoSpcAndTheStoreGoesOn() throws IOException {
        assumeTrue(mounted, () -> "skipped: " + skipReason);
        Path image = mountPoint.resolve("big.img");
        FileStore.createSparse(image, 4 << 20);
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
                FileStore store = FileStore.open(image, FileStoreConfig.defaults())) {
            byte[] mib = new byte[1 << 20];
            java.util.Arrays.fill(mib, (byte) 5);
            assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(mib)))
                    .isEqualTo(BioStatus.NOSPC);
            // freeing space makes room again
            assertThat(StoreModel.range(submitter, store, BioOp.DISCARD, 0, 0, 2048)).isEqualTo(BioStatus.OK);
            assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(new byte[65536])))
                    .isEqualTo(BioStatus.OK);
            assertThat(StoreModel.read(submitter, store, 0, 65536)).containsOnly(0);
        }
    }
}
