package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18's LVM-style thin verbs end to end: the real daemon and CLI, qemu-io patterns and nbdcopy on a
 * thin volume and its snapshot, Data% and Meta% in {@code ls}, merge, remove, restarts, and
 * {@code thin_check} clean on the pool's metadata.
 */
class ThinVerbsIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Path logs;
    private Path state;
    private int port;
    private CairnProcesses.Daemon daemon;

    @BeforeEach
    void setUp() throws Exception {
        for (String tool : List.of("qemu-io", "nbdcopy")) {
            Tools.require(tool);
        }
        Tools.require("thin_check", "thin-provisioning-tools");
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
        List<String> full = new ArrayList<>(List.of(args));
        full.addAll(List.of("--state-dir", state.toString()));
        return cairn.ok(full.toArray(String[]::new));
    }

    private CairnProcesses.Result cli(String... args) throws Exception {
        List<String> full = new ArrayList<>(List.of(args));
        full.addAll(List.of("--state-dir", state.toString()));
        return cairn.cli(full.toArray(String[]::new));
    }

    private String uri(String export) {
        return "nbd://127.0.0.1:" + port + "/" + export;
    }

    private JsonNode lsEntry(String name) throws Exception {
        for (JsonNode d : new ObjectMapper().readTree(ok("ls", "--json")).get("devices")) {
            if (d.get("name").asText().equals(name)) {
                return d;
            }
        }
        throw new AssertionError("ls --json has no " + name);
    }

    private void thinCheck(Path metadata) throws Exception {
        CairnProcesses.Result check = Tools.run(logs, "thin_check", metadata.toString());
        assertThat(check.exit()).as(check.out()).isZero();
        assertThat(check.out()).doesNotContainIgnoringCase("warning");
    }

    @Test
    void poolVolumeSnapshotMergeAndRemoveWithRealClients() throws Exception {
        start();
        assertThat(ok("pool", "create", "p", "--size", "256M")).contains("pool p created");
        Path meta = state.resolve("images/p_tmeta.img");
        assertThat(Files.size(meta)).as("the kernel's rule: 48 bytes per block, at least 2 MiB").isEqualTo(2L << 20);
        assertThat(ok("thin", "create", "p", "vol", "--virtual-size", "128M")).contains("thin volume vol created in pool p");
        assertThat(lsEntry("p").get("dataPercent").asDouble()).isZero();

        Tools.qemuIo(logs, uri("vol"), "write -P 0xab 0 4M", "write -P 0x11 100M 64k", "flush");
        JsonNode pool = lsEntry("p");
        assertThat(pool.get("kind").asText()).isEqualTo("thin-pool");
        assertThat(pool.get("usedDataBlocks").asLong()).isEqualTo(65); // 4 MiB + 64 KiB in 64 KiB blocks
        assertThat(pool.get("dataPercent").asDouble()).isEqualTo(Math.round(65 * 10000.0 / 4096) / 100.0);
        assertThat(pool.get("metaPercent").asDouble()).isGreaterThan(0);
        assertThat(lsEntry("vol").get("dataPercent").asDouble()).isEqualTo(Math.round(65 * 128 * 10000.0 / 262144) / 100.0);
        assertThat(ok("ls")).containsPattern("p\\t\\(.*thin pool, Data% 1\\.59, Meta% [0-9.]+\\)")
                .containsPattern("vol\\t\\(.*thin in p, Data% 3\\.17\\)");

        // A thin snapshot: no size, no COW; the volume goes on changing, the snapshot keeps its point in time.
        assertThat(ok("snapshot", "create", "vol", "snap")).contains("snapshot snap of vol created");
        assertThat(ok("snapshot", "ls")).contains("snap", "vol", "thin, pool p");
        Tools.qemuIo(logs, uri("vol"), "write -P 0xcd 1M 64k", "write -P 0x22 100M 4k", "flush");
        Tools.qemuIo(logs, uri("snap"), "read -P 0xab 0 4M", "read -P 0x11 100M 64k");
        Tools.qemuIo(logs, uri("vol"), "read -P 0xab 0 1M", "read -P 0xcd 1M 64k", "read -P 0x22 100M 4k");
        CairnProcesses.Result refused = cli("remove", "p");
        assertThat(refused.exit()).isEqualTo(1);
        assertThat(refused.err()).contains("pool p has thin volumes: vol, snap");

        // Everything survives a restart, and the metadata is clean while the daemon is stopped.
        assertThat(daemon.stop()).as(daemon.log()).isZero();
        thinCheck(meta);
        start();
        Path snapCopy = tmp.resolve("snap.copy");
        Tools.nbdcopy(logs, uri("snap"), snapCopy);
        byte[] s = Files.readAllBytes(snapCopy);
        assertThat(s).hasSize(128 << 20);
        assertThat(s[(1 << 20) + 7]).isEqualTo((byte) 0xab);
        assertThat(s[(100 << 20) + 5]).isEqualTo((byte) 0x11);
        assertThat(s[(4 << 20) + 1]).isZero();

        // Merge: vol takes the snapshot's contents, the snapshot goes (lvconvert --merge of a thin snapshot).
        ok("snapshot", "merge", "snap");
        assertThat(ok("snapshot", "ls")).contains("No snapshots");
        Path volCopy = tmp.resolve("vol.copy");
        Tools.nbdcopy(logs, uri("vol"), volCopy);
        assertThat(Arrays.equals(Files.readAllBytes(volCopy), s)).as("vol after the merge is the snapshot").isTrue();
        assertThat(lsEntry("p").get("usedDataBlocks").asLong()).as("the old volume's own blocks are freed").isEqualTo(65);

        assertThat(daemon.stop()).as(daemon.log()).isZero();
        thinCheck(meta);
        start();
        Tools.qemuIo(logs, uri("vol"), "read -P 0xab 0 4M", "read -P 0x11 100M 64k");
        ok("remove", "vol");
        assertThat(lsEntry("p").get("usedDataBlocks").asLong()).isZero();
        ok("remove", "p");
        assertThat(meta).doesNotExist();
        assertThat(ok("ls")).doesNotContain("p\t");
        assertThat(daemon.stop()).as(daemon.log()).isZero();
    }

    @Test
    void badArgumentsAreUsageErrorsAndChangeNothing() throws Exception {
        start();
        assertThat(cli("pool", "create", "p", "--size", "1M", "--block-size", "96K").exit()).isEqualTo(2);
        assertThat(cli("pool", "create", "p", "--size", "32K").exit()).isEqualTo(2);
        assertThat(cli("pool", "create", "p", "--size", "1M", "--metadata-size", "1M").exit()).isEqualTo(2);
        assertThat(state.resolve("images/p_tmeta.img")).doesNotExist();
        ok("pool", "create", "p", "--size", "64M");
        CairnProcesses.Result noPool = cli("thin", "create", "nope", "v", "--virtual-size", "1G");
        assertThat(noPool.exit()).isEqualTo(1);
        assertThat(noPool.err()).contains("pool: nope (expected: a pool made by cairn pool create)");
        ok("thin", "create", "p", "v", "--virtual-size", "1G");
        CairnProcesses.Result cow = cli("snapshot", "create", "v", "s", "--size", "1M");
        assertThat(cow.exit()).isEqualTo(2);
        assertThat(cow.err()).contains("--size: given for a thin snapshot");
        assertThat(ok("snapshot", "ls")).contains("No snapshots");
        assertThat(daemon.stop()).as(daemon.log()).isZero();
        thinCheck(state.resolve("images/p_tmeta.img"));
    }
}
