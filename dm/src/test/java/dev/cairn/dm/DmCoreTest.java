package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.StackBuilder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** dm core's own rules: split order per policy, max-io splitting, flush fan-out, PREFLUSH-then-data. */
class DmCoreTest {
    private final List<String> log = Collections.synchronizedList(new ArrayList<>());

    private DeviceRegistry registry(StackBuilder stack) {
        return new DeviceRegistry(stack.submitter(), RegistryOptions.defaults()
                .withTargetTypes(TargetTypes.load().with(new ProbeTargetType(log::add))));
    }

    private RecordingDevice leaf(String name, Consumer<String> log) {
        return new RecordingDevice(name, 4 << 20, QueueLimits.defaults(), log);
    }

    @ParameterizedTest
    @EnumSource(value = SubmitPolicy.class, names = {"LEGACY", "FLUSH_ON_BLOCK"})
    void mapAllPiecesInOneCallBeforeAnyGoesDown(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("r", leaf("r", log::add));
            MappedDevice md = dm.create("p", "0 64 probe r 0 8 1");
            log.clear();
            assertThat(Io.write(stack.submitter(), md, 4, Pattern.segment(2048, 20 * 512, 1))).isEqualTo(BioStatus.OK);
            assertThat(log).containsExactly(
                    "map p WRITE 4+4 leg 0", "map p WRITE 8+8 leg 0", "map p WRITE 16+8 leg 0",
                    "io r WRITE 4+4", "io r WRITE 8+8", "io r WRITE 16+8");
        }
    }

    @Test
    void depthFirstMapsTheFirstPieceAndResubmitsTheRest() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.DEPTH_FIRST); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("r", leaf("r", log::add));
            MappedDevice md = dm.create("p", "0 64 probe r 0 8 1");
            log.clear();
            assertThat(Io.write(stack.submitter(), md, 4, Pattern.segment(2048, 20 * 512, 1))).isEqualTo(BioStatus.OK);
            assertThat(log).containsExactly(
                    "map p WRITE 4+4 leg 0", "io r WRITE 4+4",
                    "map p WRITE 8+8 leg 0", "io r WRITE 8+8",
                    "map p WRITE 16+8 leg 0", "io r WRITE 16+8");
            assertThat(Io.readOk(stack.submitter(), md, 4, 20 * 512).mismatch(Pattern.segment(2048, 20 * 512, 1)))
                    .isEqualTo(-1);
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void piecesNeverCrossMaxIoOrTargetBoundaries(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("r", leaf("r", s -> { }));
            MappedDevice md = dm.create("p", "0 100 probe r 0 16 1\n100 300 probe r 100 64 1\n400 112 probe r 400 0 1");
            java.util.SplittableRandom rnd = new java.util.SplittableRandom(42);
            for (int i = 0; i < 300; i++) {
                int n = 1 + rnd.nextInt(512);
                long s = rnd.nextLong(512 - n + 1);
                assertThat(Io.write(stack.submitter(), md, s, Pattern.segment(s * 512, n * 512, 1 + i))).isEqualTo(BioStatus.OK);
                Pattern.check(Io.readOk(stack.submitter(), md, s, n * 512), s * 512, 1 + i);
            }
            assertThat(log).noneMatch(l -> l.startsWith("VIOLATION"));
            assertThat(log).anyMatch(l -> l.startsWith("map p WRITE 100+")); // a piece started exactly at a boundary
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void emptyFlushReachesEveryTargetAndEveryLeg(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            RecordingDevice[] r = new RecordingDevice[6];
            for (int i = 0; i < r.length; i++) {
                r[i] = leaf("r" + i, s -> { });
                dm.addLeaf("r" + i, r[i]);
            }
            MappedDevice md = dm.create("f", """
                    0 64 linear r0 0
                    64 96 striped 3 8 r1 0 r2 0 r3 0
                    160 8 zero
                    168 8 error
                    176 64 probe r4 0 0 2
                    240 16 delay r5 0 0
                    """);
            assertThat(md.limits().writeCache()).isTrue();
            assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
            for (int i = 0; i < 4; i++) {
                assertThat(r[i].seen()).as("r" + i).extracting(RecordingDevice.Seen::op).containsExactly(BioOp.FLUSH);
            }
            assertThat(r[4].seen()).extracting(RecordingDevice.Seen::op).containsExactly(BioOp.FLUSH, BioOp.FLUSH);
            assertThat(log).containsExactly("map f FLUSH 176+0 leg 0", "map f FLUSH 176+0 leg 1");
            assertThat(r[5].seen()).extracting(RecordingDevice.Seen::op).containsExactly(BioOp.FLUSH);
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void preflushDataIsSentAsFlushFanOutThenDataWithoutPreflush(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            List<String> events = Collections.synchronizedList(new ArrayList<>());
            RecordingDevice[] r = new RecordingDevice[3];
            for (int i = 0; i < r.length; i++) {
                r[i] = leaf("r" + i, events::add);
                dm.addLeaf("r" + i, r[i]);
            }
            MappedDevice md = dm.create("f", "0 64 linear r0 0\n64 32 striped 2 8 r1 0 r2 0");
            BioStatus st = Io.write(stack.submitter(), md, 66, Pattern.segment(66 * 512, 12 * 512, 5),
                    BioFlags.PREFLUSH | BioFlags.FUA);
            assertThat(st).isEqualTo(BioStatus.OK);
            // Every leg is flushed before any data moves; the data then carries FUA but not PREFLUSH.
            assertThat(events.subList(0, 3)).containsExactlyInAnyOrder("io r0 FLUSH 0+0", "io r1 FLUSH 0+0", "io r2 FLUSH 0+0");
            assertThat(events.subList(3, events.size())).containsExactly("io r1 WRITE 2+6", "io r2 WRITE 0+6");
            assertThat(r[1].seen().get(1).flags()).isEqualTo(BioFlags.FUA);
            Pattern.check(Io.readOk(stack.submitter(), md, 66, 12 * 512), 66 * 512, 5);
        }
    }

    @Test
    void aFailedPreflushFailsTheWriteWithoutWritingData() throws Exception {
        FakeClock clock = new FakeClock();
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter(), RegistryOptions.defaults().withClock(clock))) {
            RecordingDevice r0 = leaf("r0", s -> { });
            RecordingDevice r1 = leaf("r1", s -> { });
            dm.addLeaf("r0", r0);
            dm.addLeaf("r1", r1);
            MappedDevice md = dm.create("f", "0 64 linear r0 0\n64 64 flakey r1 0 0 10");
            // flakey is down from the start (up 0 s): its flush leg fails, so the data must not be written.
            BioStatus st = Io.write(stack.submitter(), md, 0, Pattern.segment(0, 4096, 1), BioFlags.PREFLUSH);
            assertThat(st).isEqualTo(BioStatus.IOERR);
            assertThat(r0.seen()).extracting(RecordingDevice.Seen::op).containsExactly(BioOp.FLUSH);
            assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.IOERR);
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void discardAndWriteZeroesFanOutToEveryStripeWithItsOwnRange(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            RecordingDevice[] r = new RecordingDevice[3];
            for (int i = 0; i < r.length; i++) {
                r[i] = leaf("r" + i, s -> { });
                dm.addLeaf("r" + i, r[i]);
            }
            MappedDevice md = dm.create("s", "0 96 striped 3 8 r0 100 r1 200 r2 300");
            // Target sectors [5, 45): chunks c0 [0,8) r0, c1 r1, c2 r2, c3 [24,32) r0 @108, c4 r1 @208, c5 [40,48) r2 @308.
            Bio d = Bio.alloc().setDevice(md).setOp(BioOp.DISCARD).setSector(5).setSizeBytes(40 * 512);
            assertThat(Io.submit(stack.submitter(), d)).isEqualTo(BioStatus.OK);
            assertThat(r[0].seen()).containsExactly(new RecordingDevice.Seen("r0", BioOp.DISCARD, 0, 105, 11));
            assertThat(r[1].seen()).containsExactly(new RecordingDevice.Seen("r1", BioOp.DISCARD, 0, 200, 16));
            assertThat(r[2].seen()).containsExactly(new RecordingDevice.Seen("r2", BioOp.DISCARD, 0, 300, 13));
            // A range on one chunk: the other stripes get nothing.
            for (RecordingDevice x : r) {
                x.clear();
            }
            assertThat(Io.writeZeroes(stack.submitter(), md, 9, 4, 0)).isEqualTo(BioStatus.OK);
            assertThat(r[0].seen()).isEmpty();
            assertThat(r[1].seen()).containsExactly(new RecordingDevice.Seen("r1", BioOp.WRITE_ZEROES, 0, 201, 4));
            assertThat(r[2].seen()).isEmpty();
        }
    }

    @Test
    void ioToADeviceWithoutATableFails() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK); DeviceRegistry dm = registry(stack)) {
            MappedDevice md = dm.create("empty");
            assertThat(md.capacitySectors()).isZero();
            assertThat(Io.read(stack.submitter(), md, 0, java.lang.foreign.MemorySegment.ofArray(new byte[512])))
                    .isEqualTo(BioStatus.INVALID);
        }
    }

    /** A target that takes at most 3 sectors per map call through acceptPartial; dm core maps the rest. */
    private static final class PartialType implements TargetType {
        @Override
        public String name() {
            return "partial";
        }

        @Override
        public TargetVersion version() {
            return TargetVersion.of(1, 0, 0);
        }

        @Override
        public Target create(TargetContext ctx, TargetArgs args) throws TableException {
            DeviceRef dev = args.openDevice("dev", args.nextDeviceSpec("dev"));
            args.expectEnd();
            return new Target() {
                @Override
                public MapResult map(Bio clone) {
                    if (clone.op() != BioOp.FLUSH && clone.sectors() > 3) {
                        TargetIo.of(clone).acceptPartial(clone, 3);
                    }
                    clone.setDevice(dev.device()).setSector(ctx.targetOffset(clone.sector()));
                    return MapResult.REMAPPED;
                }

                @Override
                public String statusTable() {
                    return dev.spec();
                }
            };
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void acceptPartialMapsTheRestAsNewPieces(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter(),
                        RegistryOptions.defaults().withTargetTypes(TargetTypes.load().with(new PartialType())))) {
            RecordingDevice r = leaf("r", s -> { });
            dm.addLeaf("r", r);
            MappedDevice md = dm.create("p", "0 64 partial r");
            assertThat(Io.write(stack.submitter(), md, 1, Pattern.segment(512, 8 * 512, 4))).isEqualTo(BioStatus.OK);
            assertThat(r.seen()).extracting(RecordingDevice.Seen::sector, RecordingDevice.Seen::sectors)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(1L, 3), org.assertj.core.groups.Tuple.tuple(4L, 3),
                            org.assertj.core.groups.Tuple.tuple(7L, 2));
            Pattern.check(Io.readOk(stack.submitter(), md, 1, 8 * 512), 512, 4);
        }
    }
}
