package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.dm.DmException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 22 item 5: {@code cairn snapshot create o os --cow o.img}, with o.img the origin's own image, was
 * accepted and the new COW's header overwrote the origin's first bytes. A target's devices may not reach
 * the same sectors of a writable file, nor one file through two paths; the table is refused before the
 * snapshot writes anything.
 */
@Timeout(60)
class CowSameAsOriginTest {
    private static final int IMAGE_BYTES = 4 << 20; // 8192 sectors

    @TempDir
    Path dir;

    private final SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK);

    @AfterEach
    void tearDown() {
        stack.close();
    }

    private Path image(String name) throws Exception {
        Path p = dir.resolve(name);
        byte[] data = new byte[IMAGE_BYTES];
        new Random(name.hashCode()).nextBytes(data);
        Files.write(p, data);
        return p;
    }

    @Test
    void aCowThatIsTheOriginsOwnImageIsRefusedAndNothingIsWritten() throws Exception {
        Path img = image("o.img");
        byte[] before = Files.readAllBytes(img);
        stack.create("o-real", "0 8192 linear file:" + img + " 0");
        assertThatThrownBy(() -> stack.create("os", "0 8192 snapshot o-real file:" + img + " P 8"))
                .isInstanceOf(DmException.class)
                .hasMessageContaining("line 1: snapshot: cow: file:" + img + " (expected: a device that shares no"
                        + " sector of a writable leaf with o-real: both reach sectors [0, +8192) of " + img
                        + " (a COW device cannot be the same as its origin device))");
        assertThat(Files.readAllBytes(img)).as("the origin's image is untouched").isEqualTo(before);
    }

    @Test
    void theSameFileThroughAnotherPathIsRefused() throws Exception {
        Path img = image("o.img");
        Path link = dir.resolve("link.img");
        Files.createLink(link, img);
        Path symlink = dir.resolve("sym.img");
        Files.createSymbolicLink(symlink, img);
        byte[] before = Files.readAllBytes(img);
        stack.create("o-real", "0 8192 linear file:" + img + " 0");
        for (Path other : new Path[] {link, symlink}) {
            assertThatThrownBy(() -> stack.create("os", "0 8192 snapshot o-real file:" + other + " P 8"))
                    .isInstanceOf(DmException.class)
                    .hasMessageContaining("line 1: snapshot: cow: file:" + other + " (expected: one path per file: "
                            + other + " is " + img + ", which o-real also opened (same device and inode))");
        }
        assertThat(Files.readAllBytes(img)).isEqualTo(before);
    }

    @Test
    void originAndCowOnDisjointPartsOfOneFileAreAccepted() throws Exception {
        // LVM's layout: the origin's and the COW's logical volumes side by side on one physical volume.
        Path pv = image("pv.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(pv.toFile(), "rw")) {
            f.seek(IMAGE_BYTES / 2);
            f.write(new byte[IMAGE_BYTES / 2]); // a new COW starts zeroed
        }
        stack.create("base-real", "0 4096 linear file:" + pv + " 0");
        stack.create("cow-lv", "0 4096 linear file:" + pv + " 4096");
        stack.create("base", "0 4096 snapshot-origin base-real");
        stack.create("snap", "0 4096 snapshot base-real cow-lv P 8");
        assertThat(stack.info("snap")).startsWith("0 4096 snapshot ");
    }

    @Test
    void aCowOverlappingTheOriginsPartOfOneFileIsRefused() throws Exception {
        Path pv = image("pv.img");
        stack.create("base-real", "0 4096 linear file:" + pv + " 0");
        stack.create("cow-lv", "0 4096 linear file:" + pv + " 2048");
        assertThatThrownBy(() -> stack.create("snap", "0 4096 snapshot base-real cow-lv P 8"))
                .isInstanceOf(DmException.class)
                .hasMessageContaining("both reach sectors [2048, +2048) of " + pv);
    }
}
