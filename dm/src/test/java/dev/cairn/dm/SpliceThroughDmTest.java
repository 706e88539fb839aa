package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.FileStore;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.StackBuilder;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A READ's {@link SpliceSink} goes through the targets that remap ({@code linear}, {@code striped}) to the
 * file stores below, which answer by reference at the remapped positions, and stops at every other target
 * (here {@code delay}), whose reads are copied. The devices' removal closes the file stores, which waits
 * for every piece: a leaked pin would hang the test.
 */
@Timeout(60)
class SpliceThroughDmTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private Path file(String name) throws IOException {
        Path p = dir.resolve(name);
        FileStore.createSparse(p, 8L * MIB);
        return p;
    }

    private record Read(SpliceSink sink, MemorySegment buffer) {}

    private static Read read(StackBuilder stack, BlockDevice device, long sector, int lengthBytes, Arena arena) {
        MemorySegment buffer = arena.allocate(lengthBytes);
        SpliceSink sink = new SpliceSink(buffer);
        Bio bio = Bio.alloc().setDevice(device).setOp(BioOp.READ).setSector(sector).setData(buffer).setSpliceSink(sink);
        assertThat(Io.submit(stack.submitter(), bio)).isEqualTo(BioStatus.OK);
        return new Read(sink, buffer);
    }

    /** The data the read returned: its memory, overlaid with the referenced ranges. */
    private static MemorySegment assemble(Read r) throws IOException {
        MemorySegment out = MemorySegment.ofArray(new byte[(int) r.buffer().byteSize()]);
        out.copyFrom(r.buffer());
        r.sink().copyInto(r.buffer());
        MemorySegment assembled = MemorySegment.ofArray(r.buffer().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        r.buffer().copyFrom(out);
        return assembled;
    }

    private static SpliceSink.FileRange fileRange(Read r, int i) {
        return (SpliceSink.FileRange) r.sink().piece(i);
    }

    @Test
    void linearAndStripedPassTheSinkToTheFilesAtTheRemappedPositions() throws Exception {
        Path[] legs = {file("0.img"), file("1.img"), file("2.img"), file("3.img")};
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter());
                Arena arena = Arena.ofShared()) {
            // linear over linear over a file: 2048 + 1024 sectors in
            dm.create("inner", "0 8192 linear file:" + legs[0] + " 2048");
            MappedDevice outer = dm.create("outer", "0 4096 linear inner 1024");
            Io.writeOk(stack.submitter(), outer, 100, Pattern.segment(100 * 512L, MIB, 1));
            Read lr = read(stack, outer, 100, MIB, arena);
            assertThat(lr.sink().count()).isEqualTo(1);
            assertThat(fileRange(lr, 0).positionBytes()).isEqualTo((100 + 1024 + 2048) * 512L);
            assertThat(lr.buffer().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsOnly(0);
            Pattern.check(assemble(lr), 100 * 512L, 1);
            lr.sink().release();

            // striped over four files, 64 KiB chunks: one piece per chunk, each at its leg's position
            String table = "0 65536 striped 4 128 " + String.join(" ",
                    java.util.Arrays.stream(legs).map(p -> "file:" + p + " 0").toList());
            MappedDevice striped = dm.create("striped", table);
            Io.writeOk(stack.submitter(), striped, 512, Pattern.segment(512 * 512L, MIB, 2));
            Read sr = read(stack, striped, 512, MIB, arena);
            assertThat(sr.sink().count()).isEqualTo(16);
            Set<FileChannel> channels = new HashSet<>();
            for (int i = 0; i < 16; i++) {
                SpliceSink.FileRange p = fileRange(sr, i);
                long chunk = 4 + i; // sector 512 is chunk 4
                assertThat(p.offsetBytes()).isEqualTo(i * 65536L);
                assertThat(p.positionBytes()).as("piece %d", i).isEqualTo((chunk / 4) * 65536);
                channels.add(p.channel());
            }
            assertThat(channels).as("one file per leg").hasSize(4);
            Pattern.check(assemble(sr), 512 * 512L, 2);
            sr.sink().release();

            dm.remove("striped", false);
            dm.remove("outer", false);
            dm.remove("inner", false); // closes the file stores: they wait for unreleased pieces
        }
    }

    @Test
    void aReadSplitIntoMoreClonesThanASinkTakesIsReferencedInPartAndCopiedForTheRest() throws Exception {
        Path[] legs = {file("s0.img"), file("s1.img")};
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter());
                Arena arena = Arena.ofShared()) {
            // 4 KiB chunks: a 1 MiB read is 256 clones, four times what one sink takes
            MappedDevice striped = dm.create("fine", "0 16384 striped 2 8 file:" + legs[0] + " 0 file:" + legs[1] + " 0");
            Io.writeOk(stack.submitter(), striped, 0, Pattern.segment(0, MIB, 4));
            Read r = read(stack, striped, 0, MIB, arena);
            assertThat(r.sink().count()).isEqualTo(SpliceSink.MAX_PIECES);
            Pattern.check(assemble(r), 0, 4);
            r.sink().release();
            dm.remove("fine", false); // closes the stores: every referenced piece was released
        }
    }

    @Test
    void memoryStoresBelowLinearAnswerWithTheirOwnPages() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter());
                Arena arena = Arena.ofShared()) {
            MappedDevice lin = dm.create("onmem", "0 8192 linear mem:8M 2048");
            Io.writeOk(stack.submitter(), lin, 0, Pattern.segment(0, MIB / 2, 5));
            Read r = read(stack, lin, 0, MIB, arena);
            assertThat(r.sink().count()).isPositive();
            assertThat(r.sink().piece(0)).isInstanceOf(SpliceSink.MemoryRange.class);
            MemorySegment got = assemble(r);
            Pattern.check(got.asSlice(0, MIB / 2), 0, 5);
            assertThat(got.asSlice(MIB / 2).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).as("never written")
                    .containsOnly(0);
            r.sink().release();
            dm.remove("onmem", false);
        }
    }

    @Test
    void aTargetThatDoesNotRemapPlainlyGetsCopiedReads() throws Exception {
        Path f = file("d.img");
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter());
                Arena arena = Arena.ofShared()) {
            MappedDevice delayed = dm.create("delayed", "0 8192 delay file:" + f + " 0 0");
            Io.writeOk(stack.submitter(), delayed, 0, Pattern.segment(0, MIB, 3));
            Read r = read(stack, delayed, 0, MIB, arena);
            assertThat(r.sink().count()).isZero();
            Pattern.check(r.buffer(), 0, 3);
            // and a linear over it: the sink reaches delay's clone, which does not pass it on
            MappedDevice top = dm.create("top", "0 8192 linear delayed 0");
            Read t = read(stack, top, 0, MIB, arena);
            assertThat(t.sink().count()).isZero();
            Pattern.check(t.buffer(), 0, 3);
            r.sink().release();
            t.sink().release();
            dm.remove("top", false);
            dm.remove("delayed", false);
        }
    }
}
