package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault injection from a test script with no table reloads: {@code cairn message DEV 0 ...} reaches the
 * dust target in a running daemon and prints its replies; a real NBD client (qemu-io) sees the bad block
 * fail, and a write repair it.
 */
class DustMessagesIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;

    @AfterEach
    void tearDown() {
        if (cairn != null) {
            cairn.close();
        }
    }

    @Test
    void messagesReachDustInTheDaemonAndRepliesArePrinted() throws Exception {
        Ext4OverNbd.requireTools("qemu-io");
        Path logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        Path state = tmp.resolve("state");
        int port = CairnProcesses.freePort();
        CairnProcesses.Daemon daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
        String sd = state.toString();
        String uri = "nbd://127.0.0.1:" + port + "/d";
        cairn.ok("create", "d", "--table", "0 8192 dust mem:4M 0 4096", "--state-dir", sd);
        Tools.qemuIo(logs, uri, "write -P 0x5a 0 1M", "flush");

        assertThat(cairn.ok("message", "d", "0", "addbadblock", "60", "--state-dir", sd)).isEmpty();
        assertThat(cairn.ok("message", "d", "0", "addbadblock", "67", "1", "--state-dir", sd)).isEmpty();
        assertThat(cairn.ok("message", "d", "0", "listbadblocks", "--state-dir", sd)).isEqualTo("60\n67\n");
        assertThat(cairn.ok("message", "d", "0", "countbadblocks", "--state-dir", sd)).isEqualTo("countbadblocks: 2 badblock(s) found\n");
        assertThat(cairn.ok("status", "d", "--state-dir", sd)).isEqualTo("0 8192 dust mem:4M bypass verbose\n");
        // Bypass: the bad block still reads.
        Tools.qemuIo(logs, uri, "read -P 0x5a 240k 4k");

        cairn.ok("message", "d", "0", "enable", "--state-dir", sd);
        assertThat(cairn.ok("status", "d", "--state-dir", sd)).isEqualTo("0 8192 dust mem:4M fail_read_on_bad_block verbose\n");
        String failed = Tools.qemuIoFails(logs, uri, "read -P 0x5a 240k 4k");
        assertThat(failed).contains("Input/output error");
        Tools.qemuIo(logs, uri, "read -P 0x5a 236k 4k", "read -P 0x5a 244k 4k");
        // Block 67 fails its first write, then the second write remaps it.
        assertThat(Tools.qemuIoFails(logs, uri, "write -P 0x77 268k 4k")).contains("Input/output error");
        Tools.qemuIo(logs, uri, "write -P 0x77 268k 4k", "read -P 0x77 268k 4k");
        assertThat(cairn.ok("message", "d", "0", "queryblock", "67", "--state-dir", sd))
                .isEqualTo("dust_query_block: block 67 not found in badblocklist\n");

        CairnProcesses.Result bad = cairn.cli("message", "d", "0", "addbadblock", "60", "--state-dir", sd);
        assertThat(bad.exit()).as(bad.toString()).isNotZero();
        assertThat(bad.err()).contains("dust_add_block: block 60 already in badblocklist");
        assertThat(cairn.ok("message", "d", "0", "clearbadblocks", "--state-dir", sd))
                .isEqualTo("dust_clear_badblocks: badblocks cleared\n");
        Tools.qemuIo(logs, uri, "read -P 0x5a 240k 4k");
    }
}
