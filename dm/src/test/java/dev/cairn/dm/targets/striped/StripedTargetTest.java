package dev.cairn.dm.targets.striped;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.FakeClock;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.StatusType;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.RandomIo;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class StripedTargetTest {

    /** Random stripe counts and chunk sizes; the model and Linux's placement formula must both hold. */
    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void randomLayoutsAndRandomIoMatchModelAndPlacement(SubmitPolicy policy) throws Exception {
        long seed = RandomIo.newSeed();
        SplittableRandom r = new SplittableRandom(seed);
        for (int round = 0; round < 4; round++) {
            int stripes = 1 + r.nextInt(5);
            long chunk = 8L << r.nextInt(6);
            long width = chunk * (4 + r.nextInt(20));
            try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
                MemoryStore[] legs = new MemoryStore[stripes];
                long[] offsets = new long[stripes];
                StringBuilder table = new StringBuilder("0 " + width * stripes + " striped " + stripes + " " + chunk);
                for (int i = 0; i < stripes; i++) {
                    legs[i] = new MemoryStore("s" + i, 8 << 20);
                    offsets[i] = 8L * r.nextInt(64);
                    dm.addLeaf("s" + i, legs[i]);
                    table.append(" s").append(i).append(' ').append(offsets[i]);
                }
                MappedDevice md = dm.create("st", table.toString());
                long capacity = width * stripes;
                ModelDevice model = new ModelDevice(capacity * 512);
                RandomIo io = RandomIo.create(seed + round, 0, capacity).withMaxSectors((int) Math.min(capacity, 4096));
                io.run(stack.submitter(), md, model, 400);
                model.assertMatches(stack.submitter(), md);
                MemorySegment all = Io.readOk(stack.submitter(), md, 0, (int) capacity * 512);
                MemorySegment[] legData = new MemorySegment[stripes];
                for (int i = 0; i < stripes; i++) {
                    legData[i] = Io.readOk(stack.submitter(), legs[i], 0, 8 << 20);
                }
                for (long s = 0; s < capacity; s++) {
                    long c = s / chunk;
                    int leg = (int) (c % stripes);
                    long at = offsets[leg] + (c / stripes) * chunk + s % chunk;
                    MemorySegment there = legData[leg].asSlice(at * 512, 512);
                    assertThat(all.asSlice(s * 512, 512).mismatch(there))
                            .as("seed %d: %d stripes, chunk %d, sector %d -> s%d@%d", seed, stripes, chunk, s, leg, at)
                            .isEqualTo(-1);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void aFailedStripeShowsAsDownInInfo(SubmitPolicy policy) throws Exception {
        FakeClock clock = new FakeClock();
        try (StackBuilder stack = StackBuilder.create(policy);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter(), RegistryOptions.defaults().withClock(clock))) {
            dm.create("good", "0 64 linear mem:1M 0");
            dm.create("bad", "0 64 flakey mem:1M 0 0 100"); // down from the start
            MappedDevice md = dm.create("st", "0 128 striped 2 8 good 0 bad 0");
            assertThat(dm.status("st", StatusType.INFO).text()).isEqualTo("0 128 striped 2 good bad 1 AA\n");
            assertThat(Io.write(stack.submitter(), md, 0, Pattern.segment(0, 4096, 1))).isEqualTo(BioStatus.OK);
            assertThat(Io.write(stack.submitter(), md, 8, Pattern.segment(4096, 4096, 1))).isEqualTo(BioStatus.IOERR);
            assertThat(dm.status("st", StatusType.INFO).text()).isEqualTo("0 128 striped 2 good bad 1 AD\n");
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void extentsFollowTheChunks(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            MemoryStore a = new MemoryStore("a", 1 << 20);
            MemoryStore b = new MemoryStore("b", 1 << 20);
            dm.addLeaf("a", a);
            dm.addLeaf("b", b);
            MappedDevice md = dm.create("st", "0 64 striped 2 8 a 0 b 0");
            Io.writeOk(stack.submitter(), b, 8, Pattern.segment(4096, 4096, 1)); // b chunk 1 = target chunk 3
            int hz = Extents.HOLE | Extents.ZERO;
            assertThat(Io.extents(md, 0, 64)).containsExactly(
                    new Io.Extent(0, 24, hz), new Io.Extent(24, 8, 0), new Io.Extent(32, 32, hz));
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void limitsStackAcrossStripes(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            dm.addLeaf("a", new dev.cairn.dm.RecordingDevice("a", 1 << 20,
                    dev.cairn.block.QueueLimits.defaults().withMaxSectors(128), s -> { }));
            dm.addLeaf("b", new MemoryStore("b", 1 << 20));
            MappedDevice md = dm.create("st", "0 64 striped 2 8 a 0 b 0");
            assertThat(md.limits().maxSectors()).isEqualTo(128);
            assertThat(md.limits().writeCache()).isTrue(); // a has a cache, so the stack has one
            assertThat(md.limits().supportsDiscard()).isTrue();
            // Linux's stripe_io_hints: a full stripe (2 x 4 KiB chunks) is the optimal I/O.
            assertThat(md.limits().optimalIoBytes()).isEqualTo(8192);
            // and it stacks by least common multiple onto what sits above
            dm.addLeaf("objects", new dev.cairn.dm.RecordingDevice("objects", 1 << 20,
                    dev.cairn.block.QueueLimits.defaults().withOptimalIo(3 * 4096), s -> { }));
            MappedDevice two = dm.create("two", "0 64 linear st 0\n64 64 linear objects 0");
            assertThat(two.limits().optimalIoBytes()).isEqualTo(24576);
        }
    }
}
