package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A snapshot's data must not change after its read completed, so the snapshot targets never pass a READ's
 * {@link SpliceSink} to the files below (a reference to the origin's file would show a later origin write).
 * Their reads are copied, and a snapshot read done before an origin write keeps the old data.
 */
@Timeout(60)
class SnapshotSpliceTest {
    private static final int ORIGIN_BYTES = 1 << 20;

    @TempDir
    Path dir;

    private static MemorySegment readWithSink(SnapStack stack, BlockDevice dev, Arena arena, SpliceSink[] sinkOut) {
        MemorySegment buffer = arena.allocate(ORIGIN_BYTES);
        SpliceSink sink = new SpliceSink(buffer);
        Bio bio = Bio.alloc().setDevice(dev).setOp(BioOp.READ).setSector(0).setData(buffer).setSpliceSink(sink);
        assertThat(Io.submit(stack.submitter, bio)).isEqualTo(BioStatus.OK);
        sinkOut[0] = sink;
        return buffer;
    }

    @Test
    void snapshotAndOriginReadsOverFilesAreCopiedAndKeepTheirData() throws Exception {
        Path originFile = dir.resolve("origin.img");
        Path cowFile = dir.resolve("cow.img");
        FileStore.createSparse(originFile, ORIGIN_BYTES);
        FileStore.createSparse(cowFile, 4 << 20); // room for every chunk of the origin
        try (SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK);
                FileStore origin = FileStore.open(originFile, FileStoreConfig.defaults());
                FileStore cow = FileStore.open(cowFile, FileStoreConfig.defaults());
                Arena arena = Arena.ofShared()) {
            Io.writeOk(stack.submitter, origin, 0, Pattern.segment(0, ORIGIN_BYTES, 1));
            stack.leaf("real", origin);
            stack.leaf("cow", cow);
            MappedDevice originDev = stack.create("origin", "0 2048 snapshot-origin real");
            MappedDevice snap = stack.create("snap", "0 2048 snapshot real cow P 8");

            SpliceSink[] sink = new SpliceSink[1];
            MemorySegment before = readWithSink(stack, snap, arena, sink);
            assertThat(sink[0].count()).as("snapshot reads are never referenced").isZero();
            Io.writeOk(stack.submitter, originDev, 0, Pattern.segment(0, ORIGIN_BYTES, 2));
            Pattern.check(before, 0, 1);
            sink[0].release();

            MemorySegment after = readWithSink(stack, snap, arena, sink);
            assertThat(sink[0].count()).isZero();
            Pattern.check(after, 0, 1);
            sink[0].release();

            MemorySegment fromOrigin = readWithSink(stack, originDev, arena, sink);
            assertThat(sink[0].count()).as("snapshot-origin keeps the default too").isZero();
            Pattern.check(fromOrigin, 0, 2);
            sink[0].release();
            assertThat(origin.splicedPieces() + cow.splicedPieces()).isZero();
            stack.dm.remove("snap", false);
            stack.dm.remove("origin", false);
        }
    }
}
