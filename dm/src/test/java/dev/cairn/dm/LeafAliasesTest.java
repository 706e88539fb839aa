package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.testkit.StackBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 22 item 5, dm's rule: a target's devices may not reach the same sectors of one writable leaf, nor
 * one file through two paths, unless the target allows it. (The snapshot case is CowSameAsOriginTest.)
 */
class LeafAliasesTest {
    @TempDir
    Path dir;

    private StackBuilder stack;
    private DeviceRegistry dm;
    private Path img;

    /** {@code pair <dev> <dev> [shared]}: opens both (a mirror's legs, say); {@code shared} allows aliases. */
    private static final class PairType implements TargetType {
        @Override
        public String name() {
            return "pair";
        }

        @Override
        public TargetVersion version() {
            return TargetVersion.of(1, 0, 0);
        }

        @Override
        public Target create(TargetContext ctx, TargetArgs args) throws TableException {
            String a = args.nextDeviceSpec("a");
            String b = args.nextDeviceSpec("b");
            if (args.hasNext()) {
                args.nextKeyword("option", "shared");
                ctx.allowSharedLeaves();
            }
            args.expectEnd();
            DeviceRef ra = args.openDevice("a", a);
            DeviceRef rb = args.openDevice("b", b);
            return new Target() {
                @Override
                public MapResult map(Bio clone) {
                    clone.setDevice(ra.device());
                    return MapResult.REMAPPED;
                }

                @Override
                public String statusTable() {
                    return a + " " + b;
                }

                @Override
                public void iterateDevices(DeviceVisitor visitor) {
                    visitor.visit(ra, 0, ctx.lengthSectors());
                    visitor.visit(rb, 0, ctx.lengthSectors());
                }
            };
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
        dm = new DeviceRegistry(stack.submitter(),
                RegistryOptions.defaults().withTargetTypes(TargetTypes.load().with(new PairType())));
        img = dir.resolve("a.img");
        Files.write(img, new byte[1 << 20]);
    }

    @AfterEach
    void tearDown() {
        dm.close();
        stack.close();
    }

    @Test
    void aLeafReachedThroughTwoDevicesOfOneTargetIsRefused() throws Exception {
        dm.create("lower", "0 2048 linear file:" + img + " 0");
        assertThatThrownBy(() -> dm.create("p", "0 2048 pair lower file:" + img))
                .isInstanceOf(TableException.class)
                .hasMessage("line 1: pair: b: file:" + img + " (expected: a device that shares no sector of a writable"
                        + " leaf with lower: both reach sectors [0, +2048) of " + img
                        + " (a COW device cannot be the same as its origin device))");
        assertThat(dm.info("lower").holders()).as("the refused table released what it opened").isEmpty();
    }

    @Test
    void aTargetThatAllowsItMayShareALeaf() throws Exception {
        dm.create("lower", "0 2048 linear file:" + img + " 0");
        dm.create("p", "0 2048 pair lower file:" + img + " shared");
        assertThat(dm.info("p")).isNotNull();
    }

    @Test
    void oneDeviceNamedTwiceIsOnePathAndAllowed() throws Exception {
        dm.create("s", "0 2048 striped 2 8 file:" + img + " 0 file:" + img + " 1024");
        assertThat(dm.info("s")).isNotNull();
    }

    @Test
    void memoryStoresAndDistinctFilesNeverAlias() throws Exception {
        Path other = dir.resolve("b.img");
        Files.write(other, new byte[1 << 20]);
        dm.create("p", "0 2048 pair file:" + img + " file:" + other);
        dm.create("q", "0 2048 pair mem:1M mem:1M");
        assertThat(dm.info("q")).isNotNull();
    }
}
