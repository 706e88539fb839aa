package dev.cairn.testkit;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.MemoryStore;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The conformance suite against the local stores, which remote leaves must match. */
class DeviceConformanceTest {
    private final StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);

    @TempDir
    Path dir;

    @AfterEach
    void tearDown() {
        stack.close();
    }

    @Test
    void memoryStore() throws Exception {
        MemoryStore store = stack.memoryStore("mem", 8 << 20);
        DeviceConformance.check(stack.submitter(), store, DeviceConformance.Options.defaults().withDiscardZeroes(true));
    }

    @Test
    void fileStore() throws Exception {
        FileStore store = stack.sparseFileStore(dir.resolve("f.img"), 8 << 20);
        DeviceConformance.check(stack.submitter(), store, DeviceConformance.Options.defaults());
    }
}
