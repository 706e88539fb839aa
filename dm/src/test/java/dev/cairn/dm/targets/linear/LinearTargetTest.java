package dev.cairn.dm.targets.linear;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Extents;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.RandomIo;
import dev.cairn.testkit.StackBuilder;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class LinearTargetTest {

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void randomIoEqualsTheModelAndLandsAtTheOffset(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            MemoryStore lower = new MemoryStore("lower", 4 << 20);
            dm.addLeaf("lower", lower);
            long offset = 1234;
            MappedDevice md = dm.create("lin", "0 6000 linear lower " + offset);
            ModelDevice model = new ModelDevice(6000 * 512L);
            RandomIo io = RandomIo.create(RandomIo.newSeed(), 0, 6000).withMaxSectors(2048);
            io.run(stack.submitter(), md, model, 1000);
            model.assertMatches(stack.submitter(), md);
            // The lower device holds the same bytes, shifted by the offset; nothing before it was touched.
            model.assertMatches(0, Io.readOk(stack.submitter(), lower, offset, 6000 * 512));
            assertThat(Io.readOk(stack.submitter(), lower, 0, (int) offset * 512).mismatch(
                    java.lang.foreign.MemorySegment.ofArray(new byte[(int) offset * 512]))).isEqualTo(-1);
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void extentsPassThroughToTheLowerDevice(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            MemoryStore lower = new MemoryStore("lower", 1 << 20);
            dm.addLeaf("lower", lower);
            Io.writeOk(stack.submitter(), lower, 16, Pattern.segment(16 * 512, 4096, 1)); // lower [16, 24) is data
            MappedDevice md = dm.create("lin", "0 64 linear lower 8\n64 16 zero");
            assertThat(Io.extents(md, 0, 80)).containsExactly(
                    new Io.Extent(0, 8, Extents.HOLE | Extents.ZERO),
                    new Io.Extent(8, 8, 0),
                    new Io.Extent(16, 64, Extents.HOLE | Extents.ZERO));
            assertThat(Io.extents(md, 10, 3)).isEqualTo(List.of(new Io.Extent(10, 3, 0)));
        }
    }
}
