package dev.cairn.thin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Io;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The metadata format against the real thin-provisioning-tools: random workloads deep enough for
 * three-level mapping subtrees pass thin_check with no warning, thin_dump shows exactly Cairn's view,
 * and metadata written by thin_restore from hand-written XML opens in Cairn with exactly its mappings.
 */
class ThinMetadataFormatIT {
    private static final int BLOCK_SECTORS = 128;
    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);

    @TempDir
    Path dir;

    @AfterEach
    void close() {
        submitter.close();
    }

    @ParameterizedTest
    @ValueSource(longs = {7, 20261207})
    void randomWorkloadPassesThinCheckAndThinDumpAgrees(long seed) throws Exception {
        System.out.println("ThinMetadataFormatIT seed=" + seed);
        RandomGenerator rnd = RandomGeneratorFactory.of("L64X128MixRandom").create(seed);
        MemoryStore meta = new MemoryStore("meta", 256L << 20);
        ThinMetadata md = ThinMetadata.open(submitter, meta, BLOCK_SECTORS, 200_000, true, 1024);
        Map<Long, TreeMap<Long, Long>> model = new HashMap<>();
        md.createThin(1);
        model.put(1L, new TreeMap<>());
        // A deep device: 40,000 sequential blocks give leaves half full, so three levels.
        for (long v = 0; v < 40_000; v++) {
            long b = md.allocDataBlock();
            md.insert(1, v, b);
            model.get(1L).put(v, b);
        }
        md.commit();
        long nextId = 2;
        for (int op = 0; op < 30_000; op++) {
            List<Long> ids = new ArrayList<>(model.keySet());
            long dev = ids.get(rnd.nextInt(ids.size()));
            int kind = rnd.nextInt(10_000);
            if (kind < 7000) {
                long v = rnd.nextLong(60_000);
                long b = md.allocDataBlock();
                md.insert(dev, v, b);
                model.get(dev).put(v, b);
            } else if (kind < 9975) {
                long v = rnd.nextLong(60_000);
                long len = 1 + rnd.nextLong(64);
                for (long i = v; i < v + len; i++) {
                    assertThat(md.remove(dev, i)).isEqualTo(model.get(dev).remove(i) != null);
                }
            } else if (kind < 9990 || model.size() < 3) {
                md.createSnap(nextId, dev);
                model.put(nextId, new TreeMap<>(model.get(dev)));
                nextId++;
            } else {
                md.deleteDevice(dev);
                model.remove(dev);
            }
            if (rnd.nextInt(500) == 0) {
                md.commit();
            }
        }
        md.setTransactionId(0, 42);
        md.commit();

        for (Map.Entry<Long, TreeMap<Long, Long>> e : model.entrySet()) {
            TreeMap<Long, Long> seen = new TreeMap<>();
            md.mappings(e.getKey()).forEach((v, m) -> seen.put(v, m.dataBlock()));
            assertThat(seen).as("device %d", e.getKey()).isEqualTo(e.getValue());
            assertThat(md.mappedBlocks(e.getKey())).isEqualTo(e.getValue().size());
        }

        Path file = ThinTools.image(submitter, meta, dir.resolve("meta-" + seed + ".bin"));
        ThinTools.assertCheckClean(file);
        ThinTools.Result dump = ThinTools.run("thin_dump", file.toString());
        assertThat(dump.exitCode()).as(dump.stderr()).isZero();
        ThinTools.Dump d = ThinTools.parseDump(dump.stdout());
        assertThat(d.attr("transaction")).isEqualTo("42");
        assertThat(d.attr("time")).isEqualTo(Integer.toString(md.time()));
        assertThat(d.attr("data_block_size")).isEqualTo(Integer.toString(BLOCK_SECTORS));
        assertThat(d.attr("nr_data_blocks")).isEqualTo("200000");
        assertThat(d.devices()).extracting(ThinTools.DumpedDevice::id).containsExactlyElementsOf(new TreeMap<>(model).keySet());
        for (ThinTools.DumpedDevice dev : d.devices()) {
            TreeMap<Long, ThinMetadata.Mapping> ours = md.mappings(dev.id());
            assertThat(dev.mappings().keySet()).as("device %d", dev.id()).isEqualTo(ours.keySet());
            ours.forEach((v, m) -> {
                long[] theirs = dev.mappings().get(v);
                assertThat(theirs[0]).as("device %d block %d", dev.id(), v).isEqualTo(m.dataBlock());
                assertThat(theirs[1]).as("device %d block %d time", dev.id(), v).isEqualTo(m.time());
            });
            ThinMetadata.Details det = md.details(dev.id());
            assertThat(dev.mappedBlocks()).isEqualTo(det.mappedBlocks());
            assertThat(dev.creationTime()).isEqualTo(det.creationTime());
            assertThat(dev.snapTime()).isEqualTo(det.snapshottedTime());
            assertThat(dev.transaction()).isEqualTo(det.transactionId());
        }

        // Reopened from the device, Cairn sees the same.
        ThinMetadata again = ThinMetadata.open(submitter, meta, BLOCK_SECTORS, 200_000, false, 64);
        for (long id : model.keySet()) {
            assertThat(again.mappings(id)).isEqualTo(md.mappings(id));
        }
        assertThat(again.dataCounts()).isEqualTo(md.dataCounts());
        assertThat(again.metadataCounts()).isEqualTo(md.metadataCounts());
    }

    @Test
    void metadataSnapshotPassesThinCheckBothWays() throws Exception {
        MemoryStore meta = new MemoryStore("meta", 16L << 20);
        ThinMetadata md = ThinMetadata.open(submitter, meta, BLOCK_SECTORS, 4096, true, 256);
        md.createThin(1);
        for (long v = 0; v < 1000; v++) {
            md.insert(1, v, md.allocDataBlock());
        }
        md.commit();
        md.reserveMetadataSnap();
        for (long v = 0; v < 500; v++) {
            md.insert(1, v, md.allocDataBlock());
        }
        md.commit();
        Path file = ThinTools.image(submitter, meta, dir.resolve("held.bin"));
        ThinTools.assertCheckClean(file);
        ThinTools.Result held = ThinTools.run("thin_dump", "-m", file.toString());
        assertThat(held.exitCode()).as(held.stderr()).isZero();
        ThinTools.Dump hd = ThinTools.parseDump(held.stdout());
        assertThat(hd.devices().getFirst().mappings().get(0L)[0]).as("the held copy keeps the old mapping").isEqualTo(0);
        assertThat(md.lookup(1, 0).dataBlock()).isEqualTo(1000);
        md.releaseMetadataSnap();
        md.commit();
        ThinTools.assertCheckClean(ThinTools.image(submitter, meta, dir.resolve("released.bin")));
        assertThat(md.heldRoot()).isZero();
    }

    @Test
    void metadataFromThinRestoreOpensWithExactlyItsMappings() throws Exception {
        String xml = """
                <superblock uuid="" time="2" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="1000">
                  <device dev_id="1" mapped_blocks="20" transaction="0" creation_time="0" snap_time="1">
                    <range_mapping origin_begin="0" data_begin="100" length="16" time="0"/>
                    <single_mapping origin_block="500" data_block="7" time="1"/>
                    <range_mapping origin_begin="1000" data_begin="300" length="3" time="2"/>
                  </device>
                  <device dev_id="5" mapped_blocks="2" transaction="3" creation_time="1" snap_time="2">
                    <single_mapping origin_block="0" data_block="100" time="0"/>
                    <single_mapping origin_block="9" data_block="999" time="2"/>
                  </device>
                </superblock>
                """;
        Path xmlFile = dir.resolve("in.xml");
        Files.writeString(xmlFile, xml);
        Path metaFile = dir.resolve("restored.bin");
        try (var ch = java.nio.channels.FileChannel.open(metaFile, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.allocate(1), (16L << 20) - 1);
        }
        ThinTools.Result r = ThinTools.run("thin_restore", "-i", xmlFile.toString(), "-o", metaFile.toString());
        assertThat(r.exitCode()).as(r.stdout() + r.stderr()).isZero();

        MemoryStore meta = new MemoryStore("meta", 16L << 20);
        byte[] all = Files.readAllBytes(metaFile);
        Io.writeOk(submitter, meta, 0, MemorySegment.ofArray(all));
        ThinMetadata md = ThinMetadata.open(submitter, meta, 128, 1000, false, 64);
        assertThat(md.transactionId()).isEqualTo(7);
        assertThat(md.time()).isEqualTo(2);
        assertThat(md.deviceIds()).containsExactly(1L, 5L);
        TreeMap<Long, ThinMetadata.Mapping> one = md.mappings(1);
        TreeMap<Long, ThinMetadata.Mapping> expected = new TreeMap<>();
        for (long i = 0; i < 16; i++) {
            expected.put(i, new ThinMetadata.Mapping(100 + i, true, 0));
        }
        expected.put(500L, new ThinMetadata.Mapping(7, false, 1));
        for (long i = 0; i < 3; i++) {
            expected.put(1000 + i, new ThinMetadata.Mapping(300 + i, false, 2));
        }
        assertThat(one).isEqualTo(expected);
        assertThat(md.mappings(5)).isEqualTo(new TreeMap<>(Map.of(0L, new ThinMetadata.Mapping(100, true, 0),
                9L, new ThinMetadata.Mapping(999, false, 2))));
        assertThat(md.details(5)).isEqualTo(new ThinMetadata.Details(2, 3, 1, 2));
        assertThat(md.dataBlockRefCount(100)).as("shared by both devices").isEqualTo(2);
        assertThat(md.freeDataBlocks()).isEqualTo(1000 - 16 - 1 - 3 - 1);
        // Cairn can keep working on it, and thin_check still agrees.
        md.createSnap(6, 5);
        md.insert(6, 9, md.allocDataBlock());
        md.deleteDevice(1);
        md.commit();
        ThinTools.assertCheckClean(ThinTools.image(submitter, meta, dir.resolve("after.bin")));
    }
}
