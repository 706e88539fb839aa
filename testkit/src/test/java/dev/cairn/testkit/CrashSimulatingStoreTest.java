package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class CrashSimulatingStoreTest {
    private static final int SECTORS = 8;
    private final StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final Submitter submitter = stack.submitter();
    private final CrashSimulatingStore disk = stack.crashStore("disk", 1 << 20);

    @AfterEach
    void tearDown() {
        stack.close();
    }

    private void write(long sector, int generation, int flags) {
        assertThat(Io.write(submitter, disk, sector, Pattern.segment(sector * 512, SECTORS * 512, generation), flags))
                .isEqualTo(BioStatus.OK);
    }

    private static int[] generations(DiskImage image, long sector) {
        MemorySegment s = MemorySegment.ofArray(image.bytes(sector * 512, SECTORS * 512));
        return Pattern.sectorGenerations(s, sector * 512);
    }

    private static int[] all(int generation) {
        int[] out = new int[SECTORS];
        java.util.Arrays.fill(out, generation);
        return out;
    }

    @Test
    void readsSeeAcknowledgedWritesButOnlyFlushedOnesAreDurable() {
        write(0, 1, 0);
        Pattern.check(Io.readOk(submitter, disk, 0, SECTORS * 512), 0, 1);
        assertThat(disk.volatileWrites()).isEqualTo(1);
        assertThat(generations(disk.durableImage(), 0)).containsExactly(all(Pattern.ZEROS));
        assertThat(generations(disk.currentImage(), 0)).containsExactly(all(1));
        assertThat(Io.flush(submitter, disk)).isEqualTo(BioStatus.OK);
        assertThat(disk.volatileWrites()).isZero();
        assertThat(generations(disk.durableImage(), 0)).containsExactly(all(1));
        for (long seed = 0; seed < 20; seed++) {
            assertThat(generations(disk.crashImage(seed), 0)).containsExactly(all(1));
        }
    }

    @Test
    void fuaMakesOnlyItsOwnWriteDurable() {
        write(0, 1, 0);
        write(16, 2, BioFlags.FUA);
        DiskImage durable = disk.durableImage();
        assertThat(generations(durable, 0)).containsExactly(all(Pattern.ZEROS));
        assertThat(generations(durable, 16)).containsExactly(all(2));
    }

    @Test
    void anOlderVolatileWriteNeverUndoesAFuaWrite() {
        write(0, 1, 0);
        write(0, 2, BioFlags.FUA);
        for (long seed = 0; seed < 50; seed++) {
            assertThat(generations(disk.crashImage(seed), 0)).containsExactly(all(2));
        }
    }

    @Test
    void preflushMakesEarlierWritesDurableButNotItsOwn() {
        write(0, 1, 0);
        write(16, 2, BioFlags.PREFLUSH);
        DiskImage durable = disk.durableImage();
        assertThat(generations(durable, 0)).containsExactly(all(1));
        assertThat(generations(durable, 16)).containsExactly(all(Pattern.ZEROS));
        assertThat(disk.volatileWrites()).isEqualTo(1);
    }

    @Test
    void crashImagesKeepDropOrTearVolatileWritesAtSectorGranularity() {
        write(0, 1, BioFlags.FUA);
        write(0, 2, 0);
        Set<String> outcomes = new HashSet<>();
        for (long seed = 0; seed < 200; seed++) {
            int[] g = generations(disk.crashImage(seed), 0);
            for (int x : g) {
                assertThat(x).isIn(1, 2); // never zeros, never anything else
            }
            boolean allOld = java.util.Arrays.equals(g, all(1));
            boolean allNew = java.util.Arrays.equals(g, all(2));
            outcomes.add(allOld ? "old" : allNew ? "new" : "torn");
        }
        assertThat(outcomes).containsExactlyInAnyOrder("old", "new", "torn");
    }

    @Test
    void theSameSeedGivesTheSameImage() {
        for (int i = 0; i < 10; i++) {
            write(i * SECTORS, i + 1, 0);
        }
        MemorySegment a = MemorySegment.ofArray(disk.crashImage(42).bytes(0, 80 * 512));
        MemorySegment b = MemorySegment.ofArray(disk.crashImage(42).bytes(0, 80 * 512));
        assertThat(a.mismatch(b)).isEqualTo(-1L);
    }

    @Test
    void aLaterVolatileWriteMaySurviveWhileAnEarlierOneIsLost() {
        write(0, 1, 0);
        write(0, 2, 0);
        Set<Integer> firstSector = new HashSet<>();
        for (long seed = 0; seed < 200; seed++) {
            firstSector.add(generations(disk.crashImage(seed), 0)[0]);
        }
        assertThat(firstSector).containsExactlyInAnyOrder(Pattern.ZEROS, 1, 2);
    }

    @Test
    void crashFailsLaterIoAndTheImageReopens() {
        write(0, 1, 0);
        assertThat(Io.flush(submitter, disk)).isEqualTo(BioStatus.OK);
        write(16, 2, 0);
        DiskImage image = disk.crash(7);
        assertThat(disk.isCrashed()).isTrue();
        assertThat(Io.read(submitter, disk, 0, MemorySegment.ofArray(new byte[512]))).isEqualTo(BioStatus.IOERR);
        assertThat(Io.write(submitter, disk, 0, Pattern.segment(0, 512, 9))).isEqualTo(BioStatus.IOERR);
        CrashSimulatingStore reopened = stack.add(image.open("disk2"));
        Pattern.check(Io.readOk(submitter, reopened, 0, SECTORS * 512), 0, 1);
        assertThat(reopened.volatileWrites()).isZero();
        // the reopened store has its own cache: a new volatile write is lost by a crash that drops it
        Io.writeOk(submitter, reopened, 0, Pattern.segment(0, 512, 3));
        assertThat(generations(reopened.durableImage(), 0)[0]).isEqualTo(1);
    }

    @Test
    void discardAndWriteZeroesAreVolatileWritesToo() {
        write(0, 1, 0);
        assertThat(Io.flush(submitter, disk)).isEqualTo(BioStatus.OK);
        assertThat(Io.discard(submitter, disk, 0, 4)).isEqualTo(BioStatus.OK);
        assertThat(Io.writeZeroes(submitter, disk, 4, 4, BioFlags.NOUNMAP)).isEqualTo(BioStatus.OK);
        assertThat(Pattern.generationOf(Io.readOk(submitter, disk, 0, SECTORS * 512), 0)).isEqualTo(Pattern.ZEROS);
        assertThat(generations(disk.durableImage(), 0)).containsExactly(all(1));
        Set<Integer> seen = new HashSet<>();
        for (long seed = 0; seed < 100; seed++) {
            for (int g : generations(disk.crashImage(seed), 0)) {
                seen.add(g);
            }
        }
        assertThat(seen).containsExactlyInAnyOrder(1, Pattern.ZEROS);
    }

    @Test
    void reportsHolesForUnwrittenPagesAndAWriteCache() {
        assertThat(disk.limits().writeCache()).isTrue();
        assertThat(disk.limits().fua()).isTrue();
        Io.writeOk(submitter, disk, 8, Pattern.segment(4096, 4096, 1));
        assertThat(Io.extents(disk, 0, 32)).containsExactly(
                new Io.Extent(0, 8, Extents.HOLE | Extents.ZERO),
                new Io.Extent(8, 8, 0),
                new Io.Extent(16, 16, Extents.HOLE | Extents.ZERO));
    }

    @Test
    void outOfRangeIoIsRejectedAndWritesNothing() {
        long end = disk.capacitySectors();
        assertThat(Io.write(submitter, disk, end - 1, Pattern.segment(0, 1024, 1))).isEqualTo(BioStatus.INVALID);
        assertThat(disk.writeCount()).isZero();
        assertThat(disk.currentImage().allocatedBytes()).isZero();
    }

    @Test
    void randomIoMatchesTheModel() {
        long seed = RandomIo.newSeed();
        ModelDevice model = new ModelDevice(1 << 20);
        RandomIo.create(seed, 0, disk.capacitySectors()).run(submitter, disk, model, 1500);
        model.assertMatches(submitter, disk);
        // after a flush nothing is volatile: any crash keeps exactly the model's contents
        assertThat(Io.flush(submitter, disk)).isEqualTo(BioStatus.OK);
        CrashSimulatingStore reopened = stack.add(disk.crash(seed).open("again"));
        model.assertMatches(submitter, reopened);
    }
}
