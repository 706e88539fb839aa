package dev.cairn.rbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.MappedDevice;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import dev.cairn.testkit.DeviceConformance;
import dev.cairn.testkit.ExternalTools;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.Poll;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code rbd:} leaf against a real one-OSD Ceph cluster started by the test: the device conformance
 * suite, qemu's own rbd driver reading what Cairn wrote, snapshots read-only, stacks (striped over four
 * images, a snapshot of an RBD origin, a thin pool on RBD images) exported over NBD and checked with
 * qemu-io and nbdcopy, and an OSD that stops answering in the middle of I/O. One cluster serves the
 * whole class.
 */
class RbdDeviceIT {
    private static final long MIB = 1 << 20;

    @TempDir
    static Path dir;
    static CephCluster ceph;

    private final StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);

    @BeforeAll
    static void startCluster() throws Exception {
        ceph = CephCluster.start(dir);
    }

    @AfterAll
    static void stopCluster() {
        if (ceph != null) {
            ceph.close();
        }
    }

    @AfterEach
    void tearDown() {
        stack.close();
    }

    private RbdDevice open(String image, int timeoutSeconds) throws Exception {
        return stack.add(RbdDevice.open(RbdSpec.parse(ceph.spec(image, timeoutSeconds))));
    }

    private static String qemuIo(String image, String... commands) {
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of(
                ExternalTools.require("qemu-io", "qemu-utils"), "-f", "raw"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(image);
        return ExternalTools.run(Duration.ofSeconds(120), cmd.toArray(String[]::new)).ok().stdout();
    }

    private static String nbdinfo(String uri) {
        return ExternalTools.run(Duration.ofSeconds(60), ExternalTools.require("nbdinfo", "libnbd-bin"), "--json", uri)
                .ok().stdout();
    }

    @Test
    void imagesAreCreatedResizedAndListedThroughLibrbd() throws Exception {
        RbdSpec spec = RbdSpec.parse(ceph.spec("made", 30));
        RbdImages.create(spec, 8 * MIB);
        assertThat(RbdImages.list(spec)).contains("made");
        assertThat(ceph.rbd("info", "rbd/made")).contains("size 8 MiB");
        RbdImages.resize(spec, 32 * MIB);
        RbdDevice d = open("made", 30);
        assertThat(d.capacitySectors()).isEqualTo(32 * MIB / 512);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> RbdImages.create(spec, MIB))
                .hasMessageContaining("creating rbd/made: EEXIST");
        // A table names it like any leaf.
        DeviceRegistry dm = stack.add(new DeviceRegistry(stack.submitter()));
        MappedDevice md = dm.create("m", "0 65536 linear " + ceph.spec("made", 30) + " 0");
        Io.writeOk(stack.submitter(), md, 0, Pattern.segment(0, 4096, 4));
        assertThat(Io.readOk(stack.submitter(), d, 0, 4096).mismatch(Pattern.segment(0, 4096, 4))).isEqualTo(-1);
    }

    @Test
    void conformance() throws Exception {
        ceph.createImage("conf", 64 * MIB);
        RbdDevice d = open("conf", 30);
        assertThat(d.capacitySectors()).isEqualTo(64 * MIB / 512);
        assertThat(d.objectBytes()).isEqualTo(4 * MIB);
        assertThat(d.limits().maxSectors()).isEqualTo(4 * MIB / 512);
        assertThat(d.limits().optimalIoBytes()).isEqualTo(4 * MIB);
        DeviceConformance.check(stack.submitter(), d, DeviceConformance.Options.defaults().withOps(300));
        // write-zeroes of whole objects deallocates them: diff_iterate2 no longer reports data there.
        assertThat(Io.writeZeroes(stack.submitter(), d, 0, 8 * MIB / 512, 0)).isEqualTo(BioStatus.OK);
        assertThat(Io.extents(d, 0, 8 * MIB / 512)).allSatisfy(e -> assertThat(e.flags() & Extents.ZERO).isNotZero());
    }

    @Test
    void qemuImgThroughItsOwnRbdDriverSeesWhatCairnWrote() throws Exception {
        ceph.createImage("shared", 16 * MIB);
        RbdDevice d = open("shared", 30);
        Io.writeOk(stack.submitter(), d, MIB / 512, MemorySegment.ofArray(new byte[65536]).fill((byte) 0xab));
        Io.writeOk(stack.submitter(), d, 9 * MIB / 512, MemorySegment.ofArray(new byte[4096]).fill((byte) 0x5c));
        assertThat(Io.flush(stack.submitter(), d)).isEqualTo(BioStatus.OK);
        String img = "rbd:rbd/shared:conf=" + ceph.conf();
        String out = qemuIo(img, "read -P 0xab 1M 64k", "read -P 0x5c 9M 4k", "read -P 0 2M 1M");
        assertThat(out).doesNotContain("Pattern verification failed");
        // and the other way round: what qemu writes, Cairn reads
        qemuIo(img, "write -P 0x77 4M 128k");
        MemorySegment got = Io.readOk(stack.submitter(), d, 4 * MIB / 512, 131072);
        assertThat(got.mismatch(MemorySegment.ofArray(new byte[131072]).fill((byte) 0x77))).isEqualTo(-1);
    }

    @Test
    void aSnapshotIsReadOnlyAndKeepsItsData() throws Exception {
        ceph.createImage("snapped", 8 * MIB);
        RbdDevice d = open("snapped", 30);
        MemorySegment before = Pattern.segment(0, 65536, 1);
        Io.writeOk(stack.submitter(), d, 0, before);
        assertThat(Io.flush(stack.submitter(), d)).isEqualTo(BioStatus.OK);
        ceph.rbd("snap", "create", "rbd/snapped@s1");
        Io.writeOk(stack.submitter(), d, 0, Pattern.segment(0, 65536, 2));
        RbdDevice snap = stack.add(RbdDevice.open(RbdSpec.parse("rbd:rbd/snapped@s1?conf=" + ceph.conf())));
        assertThat(snap.limits().readOnly()).isTrue();
        assertThat(Io.readOk(stack.submitter(), snap, 0, 65536).mismatch(before)).isEqualTo(-1);
        assertThat(Io.write(stack.submitter(), snap, 0, Pattern.segment(0, 4096, 3))).isEqualTo(BioStatus.PERM);
    }

    @Test
    void stripedOverFourImagesAndASnapshotOfAnRbdOriginExportedOverNbd() throws Exception {
        for (int i = 0; i < 4; i++) {
            ceph.createImage("s" + i, 16 * MIB);
        }
        ceph.createImage("origin", 16 * MIB);
        DeviceRegistry dm = stack.add(new DeviceRegistry(stack.submitter()));
        long perImage = 16 * MIB / 512;
        StringBuilder striped = new StringBuilder("0 " + 4 * perImage + " striped 4 128");
        for (int i = 0; i < 4; i++) {
            striped.append(' ').append(ceph.spec("s" + i, 30)).append(" 0");
        }
        MappedDevice stripe = dm.create("stripe", striped.toString());
        dm.create("origin-real", "0 " + perImage + " linear " + ceph.spec("origin", 30) + " 0");
        MappedDevice origin = dm.create("origin", "0 " + perImage + " snapshot-origin origin-real");
        Io.writeOk(stack.submitter(), origin, 0, MemorySegment.ofArray(new byte[(int) MIB]).fill((byte) 0x11));
        MappedDevice snap = dm.create("snap", "0 " + perImage + " snapshot origin-real mem:16M N 16");
        Io.writeOk(stack.submitter(), origin, 0, MemorySegment.ofArray(new byte[(int) MIB]).fill((byte) 0x22));

        Path sock = dir.resolve("nbd-" + System.nanoTime() + ".sock");
        NbdServer server = stack.add(NbdServer.builder().submitter(stack.submitter()).unix(sock).build());
        server.addExport(NbdExport.of("stripe", stripe));
        server.addExport(NbdExport.of("snap", snap));
        server.addExport(NbdExport.of("origin", origin));
        server.addExport(NbdExport.of("image", stack.add(RbdDevice.open(RbdSpec.parse(ceph.spec("s3", 30))))));
        server.start();
        String base = "nbd+unix:///%s?socket=" + sock;
        // Optimal I/O: an image's 4 MiB object, stacked through the snapshot-origin's linear; a full
        // stripe (4 x 64 KiB) for the striped device. nbdinfo sees them as the preferred block size.
        assertThat(origin.limits().optimalIoBytes()).isEqualTo(4 * MIB);
        assertThat(stripe.limits().optimalIoBytes()).isEqualTo(256 * 1024);
        assertThat(nbdinfo(base.formatted("image"))).contains("\"block_size_preferred\": 4194304");
        assertThat(nbdinfo(base.formatted("origin"))).contains("\"block_size_preferred\": 4194304");
        assertThat(nbdinfo(base.formatted("stripe"))).contains("\"block_size_preferred\": 262144");
        qemuIo(base.formatted("stripe"), "write -P 0x3c 0 4M", "write -P 0x4d 60M 1M", "flush");
        String out = qemuIo(base.formatted("stripe"), "read -P 0x3c 0 4M", "read -P 0x4d 60M 1M");
        assertThat(out).doesNotContain("Pattern verification failed");
        out = qemuIo(base.formatted("snap"), "read -P 0x11 0 1M");
        assertThat(out).doesNotContain("Pattern verification failed");
        out = qemuIo(base.formatted("origin"), "read -P 0x22 0 1M");
        assertThat(out).doesNotContain("Pattern verification failed");
        // The striping is Linux's: the second 64 KiB chunk of the stripe is the first chunk of image s1,
        // as qemu's rbd driver sees it.
        out = qemuIo("rbd:rbd/s1:conf=" + ceph.conf(), "read -P 0x3c 0 64k");
        assertThat(out).doesNotContain("Pattern verification failed");
        ExternalTools.run(Duration.ofSeconds(120), ExternalTools.require("nbdcopy", "libnbd-bin"),
                base.formatted("stripe"), dir.resolve("stripe.raw").toString()).ok();
    }

    @Test
    void aThinPoolOnRbdImagesExportedOverNbdKeepsItsDataWhenReopened() throws Exception {
        ceph.createImage("thin-meta", 16 * MIB);
        ceph.createImage("thin-data", 64 * MIB);
        long dataSectors = 64 * MIB / 512;
        long thinSectors = 128 * MIB / 512; // over-provisioned: twice the data device
        String poolTable = "0 " + dataSectors + " thin-pool " + ceph.spec("thin-meta", 30) + " "
                + ceph.spec("thin-data", 30) + " 128 16";
        Path sock = dir.resolve("thin-" + System.nanoTime() + ".sock");
        String uri = "nbd+unix:///vol?socket=" + sock;
        Path copy = dir.resolve("thin-vol.raw");

        String usedData;
        DeviceRegistry dm = new DeviceRegistry(stack.submitter());
        try {
            dm.create("pool", poolTable);
            dm.message("pool", 0, "create_thin", "1");
            MappedDevice vol = dm.create("vol", "0 " + thinSectors + " thin pool 1");
            try (NbdServer server = NbdServer.builder().submitter(stack.submitter()).unix(sock).build()) {
                server.addExport(NbdExport.of("vol", vol));
                server.start();
                qemuIo(uri, "write -P 0x5a 0 1M", "write -P 0xa5 100M 256k", "write -z 960k 64k", "flush");
                String out = qemuIo(uri, "read -P 0x5a 0 960k", "read -P 0 960k 64k", "read -P 0xa5 100M 256k", "read -P 0 1M 1M",
                        "read -P 0 127M 1M");
                assertThat(out).doesNotContain("Pattern verification failed");
                ExternalTools.run(Duration.ofSeconds(120), ExternalTools.require("nbdcopy", "libnbd-bin"),
                        uri, copy.toString()).ok();
            }
            // The pool provisioned 64 KiB blocks for what qemu-io wrote: 1 MiB + 256 KiB is 20 blocks, or 19
            // if the zeroed block was unmapped.
            usedData = usedData(dm);
            assertThat(usedData).isIn("19/1024", "20/1024");
        } finally {
            dm.close();
        }
        byte[] copied = java.nio.file.Files.readAllBytes(copy);
        assertThat(copied.length).isEqualTo(128 * MIB);
        assertThat(MemorySegment.ofArray(copied).asSlice(0, 983040).mismatch(
                MemorySegment.ofArray(new byte[983040]).fill((byte) 0x5a))).isEqualTo(-1);
        assertThat(MemorySegment.ofArray(copied).asSlice(100 * MIB, 262144).mismatch(
                MemorySegment.ofArray(new byte[262144]).fill((byte) 0xa5))).isEqualTo(-1);

        // A new registry opens the pool from the same images: the metadata and the data are in Ceph.
        DeviceRegistry again = new DeviceRegistry(stack.submitter());
        try {
            again.create("pool", poolTable);
            assertThat(usedData(again)).isEqualTo(usedData);
            MappedDevice vol = again.create("vol", "0 " + thinSectors + " thin pool 1");
            try (NbdServer server = NbdServer.builder().submitter(stack.submitter()).unix(sock).build()) {
                server.addExport(NbdExport.of("vol", vol));
                server.start();
                String out = qemuIo(uri, "read -P 0x5a 0 960k", "read -P 0 960k 64k", "read -P 0xa5 100M 256k",
                        "read -P 0 64M 1M");
                assertThat(out).doesNotContain("Pattern verification failed");
                Path second = dir.resolve("thin-vol-2.raw");
                ExternalTools.run(Duration.ofSeconds(120), ExternalTools.require("nbdcopy", "libnbd-bin"),
                        uri, second.toString()).ok();
                assertThat(java.nio.file.Files.mismatch(copy, second)).isEqualTo(-1L);
            }
        } finally {
            again.close();
        }
    }

    /** The pool's {@code <used data>/<total data>} status field. */
    private static String usedData(DeviceRegistry dm) throws Exception {
        return dm.status("pool", dev.cairn.dm.StatusType.INFO).text().trim().split(" +")[5];
    }

    @Test
    void anOsdThatStopsAnsweringFailsIoAfterTheTimeoutAndIoResumesWhenItReturns() throws Exception {
        ceph.createImage("frozen", 8 * MIB);
        RbdDevice d = open("frozen", 3);
        MemorySegment acked = Pattern.segment(0, 65536, 7);
        Io.writeOk(stack.submitter(), d, 0, acked);
        assertThat(Io.flush(stack.submitter(), d)).isEqualTo(BioStatus.OK);
        ceph.freezeOsd();
        try {
            long t0 = System.nanoTime();
            // A FUA write must reach the OSD: librbd's cache turns write-back after the first flush, and a
            // read of an object the object map says is absent never leaves the client.
            CompletableFuture<BioStatus> write = CompletableFuture.supplyAsync(() ->
                    Io.write(stack.submitter(), d, 256, Pattern.segment(131072, 4096, 9), dev.cairn.block.BioFlags.FUA));
            assertThat(Poll.until(() -> d.inFlight() > 0 || write.isDone(), Duration.ofSeconds(10))).isTrue();
            // Fails (ETIMEDOUT) after the 3 s timeout: not a hang.
            assertThat(write.get(60, TimeUnit.SECONDS)).isEqualTo(BioStatus.IOERR);
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(Duration.ofSeconds(2));
        } finally {
            ceph.thawOsd();
        }
        // Once the OSD answers again, I/O works and the acknowledged write is there.
        assertThat(Poll.until(() -> Io.read(stack.submitter(), d, 0, MemorySegment.ofArray(new byte[512])).isOk(),
                Duration.ofSeconds(60))).isTrue();
        assertThat(Io.readOk(stack.submitter(), d, 0, 65536).mismatch(acked)).isEqualTo(-1);
        Io.writeOk(stack.submitter(), d, 128, Pattern.segment(65536, 4096, 8));
    }
}
