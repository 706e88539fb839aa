package dev.cairn.nbd.server;

import dev.cairn.testkit.ExternalTools;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real NBD clients (libnbd's nbdinfo/nbdcopy/nbdfuse, qemu-img, qemu-io, fio) against an in-process
 * server on a Unix socket, backed by MemoryStores. A missing client fails the test with the Debian
 * package to install.
 */
class RealClientsIT {
    private static final Duration T = Duration.ofSeconds(120);
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;
    private Submitter submitter;
    private NbdServer server;
    private Path socket;
    private final TestDevice cached = new TestDevice("cached", 64 * MIB,
            new MemoryStore("m", 4096).limits().withCache(true, false));

    @BeforeEach
    void start() {
        socket = dir.resolve("nbd.sock");
        submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        server = NbdServer.builder().submitter(submitter).unix(socket).build();
        server.addExport(NbdExport.of("disk", new MemoryStore("disk", 256 * MIB)).description("scratch disk"));
        server.addExport(NbdExport.of("ro", new MemoryStore("ro", 16 * MIB)).readOnly(true));
        server.addExport(NbdExport.of("cached", cached));
        server.start();
    }

    @AfterEach
    void stop() {
        server.close();
        submitter.close();
        assertThat(server.internalErrors()).isZero();
    }

    private String uri(String export) {
        return "nbd+unix:///" + export + "?socket=" + socket;
    }

    private static String nbdinfo() {
        return ExternalTools.require("nbdinfo", "libnbd-bin");
    }

    private static String qemuIo() {
        return ExternalTools.require("qemu-io", "qemu-utils");
    }

    @Test
    void nbdinfoShowsTheExportListAndMap() {
        String info = ExternalTools.run(T, nbdinfo(), uri("disk")).ok().stdout();
        assertThat(info).contains("using structured packets", "export-size: 268435456", "base:allocation",
                "can_trim: true", "can_zero: true", "can_fast_zero: true", "can_multi_conn: true", "can_df: true",
                "can_cache: true", "can_flush: false", "is_read_only: false", "block_size_minimum: 512",
                "block_size_preferred: 4096", "block_size_maximum: 33554432");
        assertThat(ExternalTools.run(T, nbdinfo(), uri("ro")).ok().stdout()).contains("is_read_only: true");
        assertThat(ExternalTools.run(T, nbdinfo(), uri("cached")).ok().stdout()).contains("can_flush: true", "can_fua: true");
        String list = ExternalTools.run(T, nbdinfo(), "--list", uri("")).ok().stdout();
        assertThat(list).contains("export=\"disk\"", "description: scratch disk", "export=\"ro\"", "export=\"cached\"");
        ExternalTools.run(T, qemuIo(), "-f", "raw", "-c", "write -P 0x5a 1M 2M", uri("disk")).ok();
        String map = ExternalTools.run(T, nbdinfo(), "--map", uri("disk")).ok().stdout();
        assertThat(map.lines().map(String::trim).map(l -> l.replaceAll("\\s+", " ")).toList()).containsExactly(
                "0 1048576 3 hole,zero", "1048576 2097152 0 data", "3145728 265289728 3 hole,zero");
    }

    @Test
    void qemuImgInfoAndMap() {
        String qemuImg = ExternalTools.require("qemu-img", "qemu-utils");
        assertThat(ExternalTools.run(T, qemuImg, "info", "-f", "raw", uri("disk")).ok().stdout())
                .contains("virtual size: 256 MiB (268435456 bytes)");
        ExternalTools.run(T, qemuIo(), "-f", "raw", "-c", "write -P 0x11 0 64k", uri("disk")).ok();
        String map = ExternalTools.run(T, qemuImg, "map", "--output=json", "-f", "raw", uri("disk")).ok().stdout();
        assertThat(map).contains("\"start\": 0, \"length\": 65536", "\"data\": true")
                .contains("\"start\": 65536, \"length\": 268369920", "\"zero\": true, \"data\": false");
    }

    @Test
    void qemuIoPatternsFuaFlushDiscardAndWriteZeroes() {
        ExternalTools.Result r = ExternalTools.run(T, qemuIo(), "-f", "raw",
                "-c", "write -P 0xab 0 1M",
                "-c", "read -P 0xab 0 1M",
                "-c", "write -f -P 0xcd 1M 64k",
                "-c", "read -P 0xcd 1M 64k",
                "-c", "flush",
                "-c", "write -z 2M 1M",
                "-c", "read -P 0 2M 1M",
                "-c", "discard 4M 1M",
                "-c", "read -P 0 4M 1M",
                "-c", "aio_write -P 0x77 8M 256k",
                "-c", "aio_write -P 0x78 9M 256k",
                "-c", "aio_flush",
                "-c", "read -P 0x77 8M 256k",
                "-c", "read -P 0x78 9M 256k",
                uri("cached")).ok();
        assertThat(r.all()).doesNotContain("Pattern verification failed", "error", "failed");
        assertThat(cached.flushes.get()).as("explicit flushes + FUA emulated by flush").isGreaterThanOrEqualTo(2);
        assertThat(cached.writeZeroes.get()).isPositive();
        assertThat(cached.discards.get()).isPositive();
        // A wrong pattern is noticed (the check above means something).
        assertThat(ExternalTools.run(T, qemuIo(), "-f", "raw", "-c", "read -P 0x11 0 4k", uri("cached")).all())
                .contains("Pattern verification failed");
        // Read-only export: reads work, writes are refused.
        ExternalTools.run(T, qemuIo(), "-r", "-f", "raw", "-c", "read -P 0 0 64k", uri("ro")).ok();
        assertThat(ExternalTools.run(T, qemuIo(), "-f", "raw", "-c", "write -P 1 0 4k", uri("ro")).all())
                .containsAnyOf("Permission denied", "Operation not permitted", "read-only", "Read-only");
    }

    @Test
    void nbdcopyRoundTripsRandomData() throws Exception {
        String nbdcopy = ExternalTools.require("nbdcopy", "libnbd-bin");
        byte[] data = new byte[(int) (48 * MIB)];
        new Random(11).nextBytes(data);
        java.util.Arrays.fill(data, (int) (8 * MIB), (int) (16 * MIB), (byte) 0); // a zero run in the middle
        Path in = dir.resolve("in.img");
        Path out = dir.resolve("out.img");
        Files.write(in, data);
        server.addExport(NbdExport.of("copy", new MemoryStore("copy", 48 * MIB)));
        ExternalTools.run(T, nbdcopy, in.toString(), uri("copy")).ok();
        ExternalTools.run(T, nbdcopy, uri("copy"), out.toString()).ok();
        assertThat(sha256(Files.readAllBytes(out))).isEqualTo(sha256(data));
        ExternalTools.run(T, nbdcopy, "--connections=1", uri("copy"), "null:").ok();
    }

    /**
     * Issue 22 item 7: the image of a live export was truncated from 64 to 16 MiB; reads past 16 MiB failed
     * with EIO, but nbdinfo --map showed that range as "hole,zero" and nbdcopy exited 0 having written zeros
     * for it. Now the map calls it data, and nbdcopy fails instead of copying zeros.
     */
    @Test
    void blockStatusNeverCallsZerosWhatReadsCannotReturn() throws Exception {
        String nbdcopy = ExternalTools.require("nbdcopy", "libnbd-bin");
        Path img = dir.resolve("shrinking.img");
        dev.cairn.block.store.FileStore.createSparse(img, 64 * MIB);
        try (dev.cairn.block.store.FileStore store = dev.cairn.block.store.FileStore.open(img,
                dev.cairn.block.store.FileStoreConfig.defaults())) {
            server.addExport(NbdExport.of("shrinking", store));
            byte[] data = new byte[(int) MIB];
            new Random(7).nextBytes(data);
            ExternalTools.run(T, ExternalTools.require("qemu-io", "qemu-utils"), "-f", "raw", "-c", "write -P 0x5a 0 1M",
                    uri("shrinking")).ok();
            try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
                f.setLength(16 * MIB);
            }
            String map = ExternalTools.run(T, nbdinfo(), "--map", uri("shrinking")).ok().stdout();
            for (String line : map.strip().split("\n")) {
                String[] fields = line.strip().split("\\s+");
                long offset = Long.parseLong(fields[0]);
                long length = Long.parseLong(fields[1]);
                if (offset + length > 16 * MIB) {
                    assertThat(line).as("past the file's end, in:%n%s", map).doesNotContain("zero");
                }
            }
            assertThat(map).as("holes inside the file are still holes").contains("hole,zero");
            Path out = dir.resolve("copy.img");
            ExternalTools.Result copy = ExternalTools.run(T, nbdcopy, uri("shrinking"), out.toString());
            assertThat(copy.exitCode()).as("nbdcopy must fail, not copy zeros: %s", copy).isNotZero();
            server.removeExport("shrinking");
            assertThat(dev.cairn.testkit.Poll.until(() -> server.connectionCount() == 0, T)).isTrue();
        }
    }

    @Test
    void fioVerifyJob() {
        String fio = ExternalTools.require("fio", "fio");
        ExternalTools.Result r = ExternalTools.run(T, fio, "--name=verify", "--ioengine=nbd", "--uri=" + uri("disk"),
                "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=32M", "--verify=crc32c", "--do_verify=1",
                "--verify_fatal=1", "--randrepeat=1",
                "--verify_state_save=0").ok(); // no local-verify-*.state file in the module's folder
        assertThat(r.stdout()).contains("verify: (groupid=0").doesNotContain("verify failed", "bad magic");
        assertThat(r.stdout()).containsPattern("READ: bw=");
    }

    @Test
    void nbdfuseLoopExt4MountWriteUnmountFsck() throws Exception {
        ExternalTools.requireRoot("nbdfuse, losetup and mount need root");
        String nbdfuse = ExternalTools.require("nbdfuse", "libnbd-bin");
        String losetup = ExternalTools.require("losetup", "mount");
        String mount = ExternalTools.require("mount", "mount");
        String umount = ExternalTools.require("umount", "mount");
        String mkfs = ExternalTools.require("mkfs.ext4", "e2fsprogs");
        String e2fsck = ExternalTools.require("e2fsck", "e2fsprogs");
        if (!Files.exists(Path.of("/dev/fuse"))) {
            org.assertj.core.api.Assertions.fail("/dev/fuse is missing: load the fuse module (package fuse3)");
        }
        Path fuseDir = dir.resolve("fuse");
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        Files.createDirectories(fuseDir);
        Path disk = fuseDir.resolve("disk");
        Process fuse = null;
        String loop = null;
        boolean mounted = false;
        List<Throwable> cleanup = new ArrayList<>();
        try {
            fuse = ExternalTools.start(dir.resolve("nbdfuse.log"), nbdfuse, disk.toString(), uri("disk"));
            long deadline = System.currentTimeMillis() + 20_000;
            while (!(Files.exists(disk) && Files.size(disk) == 256 * MIB) && System.currentTimeMillis() < deadline) {
                assertThat(fuse.isAlive()).as("nbdfuse: %s", Files.readString(dir.resolve("nbdfuse.log"))).isTrue();
                Thread.sleep(50);
            }
            assertThat(Files.size(disk)).isEqualTo(256 * MIB);
            loop = ExternalTools.run(T, losetup, "-f", "--show", disk.toString()).ok().stdout().trim();
            assertThat(loop).startsWith("/dev/loop");
            ExternalTools.run(T, mkfs, "-q", "-F", loop).ok();
            ExternalTools.run(T, mount, loop, mnt.toString()).ok();
            mounted = true;
            Random rnd = new Random(5);
            List<String> sums = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                byte[] content = new byte[(int) ((i + 1) * 3 * MIB)];
                rnd.nextBytes(content);
                Files.write(mnt.resolve("file" + i), content);
                sums.add(sha256(content));
            }
            ExternalTools.run(T, "sync").ok();
            ExternalTools.run(T, umount, mnt.toString()).ok();
            mounted = false;
            // Mount again: the files come back from the server, not from the page cache of the old mount.
            ExternalTools.run(T, "sh", "-c", "echo 3 > /proc/sys/vm/drop_caches");
            ExternalTools.run(T, mount, loop, mnt.toString()).ok();
            mounted = true;
            for (int i = 0; i < 4; i++) {
                assertThat(sha256(Files.readAllBytes(mnt.resolve("file" + i)))).as("file%d", i).isEqualTo(sums.get(i));
            }
            ExternalTools.run(T, umount, mnt.toString()).ok();
            mounted = false;
            ExternalTools.Result fsck = ExternalTools.run(T, e2fsck, "-f", "-n", loop);
            assertThat(fsck.exitCode()).as("e2fsck -f -n: %s", fsck.all()).isZero();
        } finally {
            if (mounted) {
                quietly(cleanup, () -> ExternalTools.run(T, umount, "-l", mnt.toString()));
            }
            if (loop != null) {
                String l = loop;
                quietly(cleanup, () -> ExternalTools.run(T, losetup, "-d", l));
            }
            quietly(cleanup, () -> ExternalTools.run(T, umount, fuseDir.toString()));
            Process p = fuse;
            quietly(cleanup, () -> ExternalTools.kill(p));
        }
    }

    private static void quietly(List<Throwable> errors, Runnable r) {
        try {
            r.run();
        } catch (Throwable t) {
            errors.add(t);
        }
    }

    private static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }
}
