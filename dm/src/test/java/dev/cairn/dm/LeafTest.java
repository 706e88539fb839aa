package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.RandomIo;
import dev.cairn.testkit.StackBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code file:} leaves through FileStore, their sharing by path and closing; {@code mem:} leaves. */
class LeafTest {
    @TempDir
    Path dir;

    @Test
    void fileLeavesAreFileStoresSharedByPathAndClosedWithTheLastTable() throws Exception {
        Path img = dir.resolve("disk.img");
        FileStore.createSparse(img, 4 << 20);
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            MappedDevice a = dm.create("a", "0 4096 linear file:" + img + " 0");
            MappedDevice b = dm.create("b", "0 4096 linear file:" + dir + "/./disk.img 4096");
            ModelDevice model = new ModelDevice(4096 * 512L);
            RandomIo.create(RandomIo.newSeed(), 0, 4096).run(stack.submitter(), a, model, 300);
            model.assertMatches(stack.submitter(), a);
            Io.writeOk(stack.submitter(), b, 0, Pattern.segment(0, 4096, 9));
            assertThat(dm.deps("a").live()).containsExactly("file:" + img);
            dm.remove("a", false);
            dm.remove("b", false);
        }
        // Everything was closed: the file holds what was written, at the right places.
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                FileStore f = FileStore.open(img, dev.cairn.block.store.FileStoreConfig.defaults())) {
            Pattern.check(Io.readOk(stack.submitter(), f, 4096, 4096), 0, 9);
        }
    }

    @Test
    void theOpenerIsCalledOncePerPathAndItsDeviceClosedWhenUnused() throws Exception {
        List<String> events = new ArrayList<>();
        final class Closable implements BlockDevice, AutoCloseable {
            final MemoryStore store = new MemoryStore("f", 1 << 20);

            @Override public String name() { return "f"; }
            @Override public long capacitySectors() { return store.capacitySectors(); }
            @Override public dev.cairn.block.QueueLimits limits() { return store.limits(); }
            @Override public void submitBio(dev.cairn.block.Bio bio) { store.submitBio(bio); }
            @Override public void close() { events.add("close"); }
        }
        LeafOpener opener = (path, readOnly) -> {
            events.add("open " + path.getFileName() + (readOnly ? " ro" : " rw"));
            return new Closable();
        };
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter(), RegistryOptions.defaults().withFileOpener(opener))) {
            dm.create("a", "0 8 linear file:/x/img 0\n8 8 linear file:/x/img 8");
            dm.create("b", "0 8 linear file:/x/../x/img 0");
            assertThat(events).containsExactly("open img rw");
            dm.load("a", "0 8 zero"); // the inactive table of a does not use the file
            dm.resume("a");
            assertThat(events).containsExactly("open img rw");
            dm.remove("b", false);
            assertThat(events).containsExactly("open img rw", "close");
        }
    }

    @Test
    void aMissingFileIsATableError() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            Path missing = dir.resolve("missing.img");
            assertThatThrownBy(() -> dm.create("a", "0 8 linear file:" + missing + " 0"))
                    .isInstanceOf(TableException.class)
                    .hasMessage("line 1: linear: dev: file:" + missing + " (expected: an existing file or block device; "
                            + missing + ")");
            assertThat(dm.names()).isEmpty();
        }
    }

    @Test
    void eachMemReferenceIsItsOwnStore() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            MappedDevice md = dm.create("m", "0 2048 linear mem:1M 0\n2048 2048 linear mem:1M 0");
            Io.writeOk(stack.submitter(), md, 0, Pattern.segment(0, 4096, 1));
            assertThat(Io.readOk(stack.submitter(), md, 2048, 4096).mismatch(
                    java.lang.foreign.MemorySegment.ofArray(new byte[4096]))).isEqualTo(-1);
            assertThatThrownBy(() -> dm.create("n", "0 4096 linear mem:1M 0"))
                    .hasMessage("line 1: linear: mem:1M: range [0, +4096) (expected: inside the device's 2048 sectors)");
        }
    }
}
