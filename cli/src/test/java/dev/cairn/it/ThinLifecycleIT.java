package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Thin provisioning end to end through the real daemon, CLI and NBD clients, with tables and pool
 * messages (the LVM-style verbs are not there yet): a pool on two image files, a thin volume written
 * with qemu-io, a thin snapshot that keeps the old data while the volume is overwritten, a daemon
 * restart, nbdcopy of both, and thin_check clean on the metadata file once the daemon has stopped.
 */
class ThinLifecycleIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Path logs;
    private Path state;
    private int port;
    private CairnProcesses.Daemon daemon;

    @BeforeEach
    void setUp() throws Exception {
        for (String tool : List.of("qemu-io", "nbdcopy", "thin_check", "thin_dump")) {
            boolean found = Files.isExecutable(Path.of("/usr/bin", tool)) || Files.isExecutable(Path.of("/usr/sbin", tool));
            assertThat(found).as(tool + " is required (qemu-utils, libnbd-bin, thin-provisioning-tools)").isTrue();
        }
        logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        state = tmp.resolve("state");
        port = CairnProcesses.freePort();
    }

    @AfterEach
    void tearDown() {
        if (cairn != null) {
            cairn.close();
        }
    }

    private void start() throws Exception {
        daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
    }

    private String ok(String... args) throws Exception {
        String[] full = new String[args.length + 2];
        System.arraycopy(args, 0, full, 0, args.length);
        full[args.length] = "--state-dir";
        full[args.length + 1] = state.toString();
        return cairn.ok(full);
    }

    private String uri(String export) {
        return "nbd://127.0.0.1:" + port + "/" + export;
    }

    @Test
    void poolVolumeSnapshotThroughTheDaemonAndRealClients() throws Exception {
        start();
        cairn.ok("image", "create", "meta.img", "16M");
        cairn.ok("image", "create", "data.img", "64M");
        ok("create", "pool", "--table", "0 131072 thin-pool file:meta.img file:data.img 128 0", "--no-export");
        ok("message", "pool", "0", "create_thin", "1");
        ok("create", "vol1", "--table", "0 262144 thin pool 1");
        assertThat(ok("status", "vol1")).isEqualTo("0 262144 thin 0 -\n");

        Tools.qemuIo(logs, uri("vol1"), "write -P 0xab 1M 3M", "write -P 0x11 100M 64k", "flush");
        assertThat(ok("status", "vol1")).isEqualTo("0 262144 thin 6272 204927\n");
        assertThat(ok("status", "pool")).matches("0 131072 thin-pool 0 \\d+/4096 49/1024 - rw discard_passdown queue_if_no_space - 1024 \\n");

        // A thin snapshot: suspend the origin, create_snap, resume, then a device for it.
        ok("suspend", "vol1");
        ok("message", "pool", "0", "create_snap", "2", "1");
        ok("resume", "vol1");
        ok("create", "snap1", "--table", "0 262144 thin pool 2");
        Tools.qemuIo(logs, uri("vol1"), "write -P 0xcd 2M 64k", "write -P 0x22 100M 4k", "flush");
        Tools.qemuIo(logs, uri("snap1"), "read -P 0xab 1M 3M", "read -P 0x11 100M 64k");
        Tools.qemuIo(logs, uri("vol1"), "read -P 0xab 1M 1M", "read -P 0xcd 2M 64k", "read -P 0x22 100M 4k",
                "read -P 0x11 104861696 60k", "read -P 0 0 1M");

        // A restart: the pool reopens its metadata, the volumes come back with their data.
        assertThat(daemon.stop()).as(daemon.log()).isZero();
        start();
        Tools.qemuIo(logs, uri("snap1"), "read -P 0xab 1M 3M", "read -P 0x11 100M 64k");
        Tools.qemuIo(logs, uri("vol1"), "read -P 0xcd 2M 64k", "read -P 0x22 100M 4k");
        Path snapCopy = tmp.resolve("snap1.copy");
        Tools.nbdcopy(logs, uri("snap1"), snapCopy);
        byte[] copy = Files.readAllBytes(snapCopy);
        assertThat(copy).hasSize(128 << 20);
        assertThat(copy[(1 << 20) + 5]).isEqualTo((byte) 0xab);
        assertThat(copy[(2 << 20) + 5]).isEqualTo((byte) 0xab);
        assertThat(copy[0]).isZero();

        // Discard a whole block of the volume: it reads zeros, the snapshot keeps its copy.
        Tools.qemuIo(logs, uri("vol1"), "discard 1M 64k", "flush");
        Tools.qemuIo(logs, uri("vol1"), "read -P 0 1M 64k");
        Tools.qemuIo(logs, uri("snap1"), "read -P 0xab 1M 64k");

        assertThat(daemon.stop()).as(daemon.log()).isZero();
        CairnProcesses.Result check = Tools.run(logs, "thin_check", tmp.resolve("meta.img").toString());
        assertThat(check.exit()).as(check.out()).isZero();
        CairnProcesses.Result dump = Tools.run(logs, "thin_dump", tmp.resolve("meta.img").toString());
        assertThat(dump.out()).contains("<device dev_id=\"1\"", "<device dev_id=\"2\"");
    }
}
