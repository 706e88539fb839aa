package dev.cairn.thin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.Pattern;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The thin-pool and thin targets through dm core, with pattern data checked against models. */
class ThinTargetTest {
    private static final int BS = 128; // 64 KiB data blocks
    private static final long BLOCK_BYTES = BS * 512L;
    private ThinStack stack;
    private MemoryStore data;

    @BeforeEach
    void setUp() throws Exception {
        stack = new ThinStack(SubmitPolicy.FLUSH_ON_BLOCK);
        stack.leaf("meta", new MemoryStore("meta-store", 16L << 20));
        data = new MemoryStore("data-store", 64L << 20);
        stack.leaf("data", data);
    }

    @AfterEach
    void tearDown() {
        stack.close();
    }

    private MappedDevice pool(String features) throws DmException {
        return stack.create("pool", "0 " + (64L << 20) / 512 + " thin-pool meta data " + BS + " 16" + features);
    }

    @Test
    void provisionsOnWriteReadsZerosElsewhereAndReportsStatusAsLinux() throws Exception {
        pool("");
        String info = stack.info("pool");
        long usedMeta = stack.pool("pool").withMetadata(md -> md.metadataBlocks() - md.freeMetadataBlocks());
        assertThat(usedMeta).as("allocated blocks plus the 409-block reserve").isBetween(409L + 5, 409L + 20);
        assertThat(info).isEqualTo("0 131072 thin-pool 0 " + usedMeta + "/4096 0/1024 - rw discard_passdown queue_if_no_space - 1024 ");
        assertThat(stack.table("pool")).isEqualTo("0 131072 thin-pool meta data 128 16 0 ");
        stack.message("pool", "create_thin", "1");
        MappedDevice thin = stack.create("thin1", "0 2097152 thin pool 1");
        assertThat(stack.info("thin1")).isEqualTo("0 2097152 thin 0 -");
        assertThat(stack.table("thin1")).isEqualTo("0 2097152 thin pool 1");
        // 4 KiB in the middle of block 3: the rest of the block reads zeros (zeroing), other blocks too.
        Io.writeOk(stack.submitter, thin, 3 * BS + 16, Pattern.segment((3 * BS + 16) * 512L, 4096, 1));
        MemorySegment block3 = Io.readOk(stack.submitter, thin, 3 * BS, (int) BLOCK_BYTES);
        ModelDevice model = new ModelDevice(1L << 30);
        model.write((3 * BS + 16) * 512L, Pattern.segment((3 * BS + 16) * 512L, 4096, 1));
        model.assertMatches(3 * BS * 512L, block3);
        assertThat(Pattern.generationOf(Io.readOk(stack.submitter, thin, 0, 4096), 0)).isEqualTo(Pattern.ZEROS);
        assertThat(stack.info("thin1")).isEqualTo("0 2097152 thin 128 511");
        assertThat(stack.info("pool")).contains(" 1/1024 ");
    }

    @ParameterizedTest
    @ValueSource(longs = {11, 20261207})
    void volumesAndSnapshotsMatchTheirModels(long seed) throws Exception {
        System.out.println("ThinTargetTest seed=" + seed);
        RandomGenerator rnd = RandomGeneratorFactory.of("L64X128MixRandom").create(seed);
        pool("");
        long size = 16L << 20;
        stack.message("pool", "create_thin", "1");
        Map<Integer, MappedDevice> devs = new HashMap<>();
        Map<Integer, ModelDevice> models = new HashMap<>();
        devs.put(1, stack.create("t1", "0 " + size / 512 + " thin pool 1"));
        models.put(1, new ModelDevice(size));
        int gen = 1;
        int nextId = 2;
        for (int round = 0; round < 6; round++) {
            for (int op = 0; op < 150; op++) {
                int id = devs.keySet().stream().toList().get(rnd.nextInt(devs.size()));
                MappedDevice d = devs.get(id);
                ModelDevice m = models.get(id);
                long sector = rnd.nextLong(size / 512 - 64) & ~7L;
                int len = 4096 * (1 + rnd.nextInt(16));
                int kind = rnd.nextInt(10);
                if (kind < 7) {
                    MemorySegment seg = Pattern.segment(sector * 512, len, gen++);
                    Io.writeOk(stack.submitter, d, sector, seg);
                    m.write(sector * 512, seg);
                } else if (kind < 9) {
                    MemorySegment got = Io.readOk(stack.submitter, d, sector, len);
                    m.assertMatches(sector * 512, got);
                } else {
                    // Whole blocks read as zeros after a discard; parts of blocks are left as they were.
                    long first = (sector + BS - 1) / BS * BS;
                    long end = (sector + len / 512) / BS * BS;
                    assertThat(Io.discard(stack.submitter, d, sector, len / 512)).isEqualTo(BioStatus.OK);
                    if (end > first) {
                        m.zero(first * 512, (end - first) * 512);
                    }
                }
            }
            // Snapshot a volume (suspend it first, as the kernel requires).
            int origin = devs.keySet().stream().toList().get(rnd.nextInt(devs.size()));
            int snap = nextId++;
            stack.dm.suspend("t" + origin, dev.cairn.dm.SuspendMode.FLUSH);
            stack.message("pool", "create_snap", Integer.toString(snap), Integer.toString(origin));
            stack.dm.resume("t" + origin);
            devs.put(snap, stack.create("t" + snap, "0 " + size / 512 + " thin pool " + snap));
            ModelDevice copy = new ModelDevice(size);
            MemorySegment all = MemorySegment.ofArray(new byte[(int) size]);
            models.get(origin).read(0, all);
            copy.write(0, all);
            models.put(snap, copy);
        }
        for (Map.Entry<Integer, MappedDevice> e : devs.entrySet()) {
            models.get(e.getKey()).assertMatches(stack.submitter, e.getValue());
        }
        // The metadata is consistent with the data: every device's mapped count matches its mappings.
        Pool p = stack.pool("pool");
        p.withMetadata(md -> {
            for (long id : md.deviceIds()) {
                assertThat(md.mappedBlocks(id)).isEqualTo(md.mappings(id).size());
            }
            return null;
        });
    }

    @Test
    void skipBlockZeroingMapsAtOnceAndFuaCommits() throws Exception {
        pool(" 1 skip_block_zeroing");
        assertThat(stack.table("pool")).isEqualTo("0 131072 thin-pool meta data 128 16 1 skip_block_zeroing ");
        stack.message("pool", "create_thin", "1");
        MappedDevice thin = stack.create("thin1", "0 2097152 thin pool 1");
        long commits = stack.pool("pool").withMetadata(ThinMetadata::commits);
        assertThat(Io.write(stack.submitter, thin, 0, Pattern.segment(0, 4096, 3), BioFlags.FUA)).isEqualTo(BioStatus.OK);
        assertThat(stack.pool("pool").withMetadata(ThinMetadata::commits)).as("a FUA write that provisioned commits").isGreaterThan(commits);
        assertThat(stack.pool("pool").metadataChanged()).isFalse();
        Pattern.check(Io.readOk(stack.submitter, thin, 0, 4096), 0, 3);
    }

    @Test
    void messagesFollowDmsetupRules() throws Exception {
        pool("");
        stack.message("pool", "create_thin", "1");
        assertThatThrownBy(() -> stack.message("pool", "create_thin", "1")).hasMessageContaining("already exists");
        assertThatThrownBy(() -> stack.message("pool", "create_thin")).hasMessageContaining("expected: 1");
        assertThatThrownBy(() -> stack.message("pool", "create_snap", "2", "9")).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> stack.message("pool", "frobnicate")).hasMessageContaining("unrecognised");
        assertThatThrownBy(() -> stack.message("pool", "create_thin", "16777216")).hasMessageContaining("expected");
        stack.message("pool", "CREATE_SNAP", "2", "1");
        stack.message("pool", "set_transaction_id", "0", "5");
        assertThatThrownBy(() -> stack.message("pool", "set_transaction_id", "0", "6")).hasMessageContaining("expected: 5");
        assertThat(stack.info("pool")).startsWith("0 131072 thin-pool 5 ");
        stack.create("thin1", "0 2048 thin pool 1");
        assertThatThrownBy(() -> stack.message("pool", "delete", "1")).hasMessageContaining("open");
        stack.dm.remove("thin1", false);
        stack.message("pool", "delete", "1");
        stack.message("pool", "reserve_metadata_snap");
        assertThat(stack.info("pool")).doesNotContain(" - rw ");
        assertThatThrownBy(() -> stack.message("pool", "reserve_metadata_snap")).hasMessageContaining("already exists");
        stack.message("pool", "release_metadata_snap");
        assertThat(stack.info("pool")).contains(" - rw ");
        assertThatThrownBy(() -> stack.create("bad", "0 2048 thin pool 9")).hasMessageContaining("dev id");
        assertThatThrownBy(() -> stack.create("bad2", "0 2048 thin data 1")).hasMessageContaining("thin-pool");
        assertThatThrownBy(() -> stack.create("bad3", "0 131072 thin-pool meta data 100 0")).hasMessageContaining("from 128 to 2097152");
        assertThatThrownBy(() -> stack.create("bad4", "0 131072 thin-pool meta data 200 0")).hasMessageContaining("multiple of 128");
    }

    @Test
    void externalOriginShowsThroughUntilWritten() throws Exception {
        MemoryStore golden = new MemoryStore("golden-store", 3 * BLOCK_BYTES + 8192); // ends inside block 3
        Io.writeOk(stack.submitter, golden, 0, Pattern.segment(0, (int) golden.capacitySectors() * 512, 7));
        stack.leaf("golden", golden);
        pool("");
        stack.message("pool", "create_thin", "1");
        MappedDevice clone = stack.create("clone", "0 2048 thin pool 1 golden");
        assertThat(stack.table("clone")).isEqualTo("0 2048 thin pool 1 golden");
        long goldenBytes = golden.capacitySectors() * 512;
        ModelDevice model = new ModelDevice(2048 * 512L);
        model.write(0, Pattern.segment(0, (int) goldenBytes, 7));
        model.assertMatches(stack.submitter, clone);
        // A write inside a golden block copies the rest of it; in the block the origin ends in, the tail is zero.
        MemorySegment w = Pattern.segment(BS * 512L + 1024, 2048, 8);
        Io.writeOk(stack.submitter, clone, BS + 2, w);
        model.write(BS * 512L + 1024, w);
        MemorySegment w2 = Pattern.segment(3 * BLOCK_BYTES, 4096, 9);
        Io.writeOk(stack.submitter, clone, 3 * BS, w2);
        model.write(3 * BLOCK_BYTES, w2);
        model.assertMatches(stack.submitter, clone);
        Pattern.check(Io.readOk(stack.submitter, golden, 0, (int) goldenBytes), 0, 7);
        assertThat(stack.info("clone")).isEqualTo("0 2048 thin 256 511");
    }

    @Test
    void errorIfNoSpaceFailsWritesAndAGrownPoolTakesThemAgain() throws Exception {
        stack.create("pool", "0 512 thin-pool meta data " + BS + " 0 1 error_if_no_space"); // 4 blocks
        stack.message("pool", "create_thin", "1");
        MappedDevice thin = stack.create("thin1", "0 2048 thin pool 1");
        for (int b = 0; b < 4; b++) {
            Io.writeOk(stack.submitter, thin, (long) b * BS, Pattern.segment(b * BLOCK_BYTES, 4096, 1));
        }
        assertThat(Io.write(stack.submitter, thin, 4L * BS, Pattern.segment(4 * BLOCK_BYTES, 4096, 1))).isEqualTo(BioStatus.NOSPC);
        assertThat(stack.info("pool")).contains(" 4/4 - out_of_data_space discard_passdown error_if_no_space ");
        // Rewrites of mapped blocks still work.
        Io.writeOk(stack.submitter, thin, 0, Pattern.segment(0, 4096, 2));
        stack.dm.load("pool", "0 1024 thin-pool meta data " + BS + " 0 1 error_if_no_space");
        stack.dm.resume("pool");
        assertThat(stack.info("pool")).contains(" 4/8 - rw ");
        Io.writeOk(stack.submitter, thin, 4L * BS, Pattern.segment(4 * BLOCK_BYTES, 4096, 1));
        Pattern.check(Io.readOk(stack.submitter, thin, 0, 4096), 0, 2);
    }

    @Test
    void queuedWritesWaitForSpaceAndCompleteAfterTheResize() throws Exception {
        stack.create("pool", "0 256 thin-pool meta data " + BS + " 0"); // 2 blocks
        stack.message("pool", "create_thin", "1");
        MappedDevice thin = stack.create("thin1", "0 2048 thin pool 1");
        Io.writeOk(stack.submitter, thin, 0, Pattern.segment(0, 4096, 1));
        Io.writeOk(stack.submitter, thin, BS, Pattern.segment(BLOCK_BYTES, 4096, 1));
        var done = new java.util.concurrent.CompletableFuture<BioStatus>();
        Thread.ofVirtual().start(() -> done.complete(Io.write(stack.submitter, thin, 2L * BS, Pattern.segment(2 * BLOCK_BYTES, 4096, 1))));
        assertThat(dev.cairn.testkit.Poll.until(() -> stack.pool("pool").mode() == PoolMode.OUT_OF_DATA_SPACE, java.time.Duration.ofSeconds(10))).isTrue();
        assertThat(done).isNotDone();
        stack.dm.load("pool", "0 512 thin-pool meta data " + BS + " 0");
        stack.dm.resume("pool");
        assertThat(done.get(10, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(BioStatus.OK);
        Pattern.check(Io.readOk(stack.submitter, thin, 2L * BS, 4096), 2 * BLOCK_BYTES, 1);
    }
}
