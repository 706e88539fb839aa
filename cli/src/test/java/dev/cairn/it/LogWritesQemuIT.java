package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interop with an independent producer of the format: qemu's {@code blklogwrites} driver (qemu-io, Debian
 * qemu-utils) writes a log while writing an image; {@code cairn log-writes ls} lists what qemu logged and
 * {@code replay} rebuilds the image byte for byte, with a check at every flush (qemu logs FUA as a write
 * then a flush). Also: the CLI's usage errors change nothing and exit with 2.
 */
class LogWritesQemuIT {
    @TempDir Path tmp;

    @Test
    void aLogWrittenByQemuBlklogwritesReplaysToTheSameImage() throws Exception {
        Ext4OverNbd.requireTools("qemu-io", "qemu-img");
        Path logs = Files.createDirectories(tmp.resolve("logs"));
        CairnProcesses cairn = new CairnProcesses(logs, tmp);
        Path base = tmp.resolve("base.img");
        Path log = tmp.resolve("log.img");
        Ext4OverNbd.run(logs, "qemu-img", "create", "-f", "raw", base.toString(), "4M");
        Ext4OverNbd.run(logs, "qemu-img", "create", "-f", "raw", log.toString(), "4M");
        CairnProcesses.Result q = Ext4OverNbd.run(logs, "qemu-io", "--image-opts",
                "driver=blklogwrites,file.driver=file,file.filename=" + base + ",log.driver=file,log.filename=" + log
                        + ",log-sector-size=512",
                "-c", "write -P 0xab 0 64k", "-c", "write -z 65536 4k", "-c", "discard 131072 64k",
                "-c", "write -f -P 0xcd 1M 4k", "-c", "flush");
        assertThat(q.exit()).as(q.out()).isZero();

        String ls = cairn.ok("log-writes", "ls", log.toString());
        assertThat(ls).startsWith("log " + log + ": version 1, sectorsize 512, ");
        assertThat(ls).containsPattern("\\n0 +512 +write +- +0 +128 *\\n");
        assertThat(ls).containsPattern("\\n\\d+ +\\d+ +discard +DISCARD +256 +128 *\\n");
        // qemu writes no marks, so no end mark: ls says the log may be incomplete.
        assertThat(ls).contains("note: the log does not end with the dm-log-writes-end mark");
        String json = cairn.ok("log-writes", "ls", log.toString(), "--json");
        assertThat(json).contains("\"sectorsize\"", "\"kind\"", "\"discard\"").containsPattern("\"complete\"\\s*:\\s*false");

        Path replay = tmp.resolve("replay.img");
        Ext4OverNbd.run(logs, "qemu-img", "create", "-f", "raw", replay.toString(), "4M");
        // The discarded range had data before in the replay target: replay must zero it, as qemu's did.
        try (var ch = java.nio.channels.FileChannel.open(replay, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}), 131072 + 4096);
        }
        CairnProcesses.Result r = cairn.cli("log-writes", "replay", log.toString(), "--to", replay.toString(),
                "--check-at", "flush", "--check", "test \"$CAIRN_LOG_ENTRY\" -ge 0");
        assertThat(r.exit()).as(r.toString()).isZero();
        assertThat(r.out()).containsPattern("checked [1-9]\\d* points \\(0 FUA, [1-9]\\d* flush, 0 mark\\): all passed");
        assertThat(Files.mismatch(replay, base)).isEqualTo(-1L);

        // Up to the first flush only: the FUA write at 1 MiB (qemu logs it before its flush) is absent.
        Path partial = tmp.resolve("partial.img");
        Ext4OverNbd.run(logs, "qemu-img", "create", "-f", "raw", partial.toString(), "4M");
        CairnProcesses.Result p = cairn.cli("log-writes", "replay", log.toString(), "--to", partial.toString(), "--limit", "2");
        assertThat(p.exit()).as(p.toString()).isZero();
        assertThat(p.out()).contains("replayed 2 of ");
        byte[] img = Files.readAllBytes(partial);
        assertThat(img[0]).isEqualTo((byte) 0xab);
        assertThat(img[1 << 20]).isEqualTo((byte) 0);

        // Usage errors: exit 2, the target untouched.
        byte[] before = Files.readAllBytes(partial);
        CairnProcesses.Result bad = cairn.cli("log-writes", "replay", log.toString(), "--to", partial.toString(),
                "--end-mark", "nope");
        assertThat(bad.exit()).as(bad.toString()).isEqualTo(2);
        assertThat(bad.err()).contains("--end-mark: nope");
        bad = cairn.cli("log-writes", "replay", log.toString(), "--to", partial.toString(), "--limit", "1", "--next-fua");
        assertThat(bad.exit()).as(bad.toString()).isEqualTo(2);
        bad = cairn.cli("log-writes", "replay", log.toString(), "--to", partial.toString(), "--check-at", "flush");
        assertThat(bad.exit()).as(bad.toString()).isEqualTo(2);
        assertThat(bad.err()).contains("--check-at: flush (expected: only with --check)");
        bad = cairn.cli("log-writes", "replay", log.toString(), "--to", partial.toString(), "--check", "true",
                "--check-at", "fsync");
        assertThat(bad.exit()).as(bad.toString()).isEqualTo(2);
        assertThat(bad.err()).contains("--check-at: fsync (expected: fua, flush or mark)");
        bad = cairn.cli("log-writes", "replay", log.toString(), "--to", tmp.resolve("missing.img").toString());
        assertThat(bad.exit()).as(bad.toString()).isEqualTo(2);
        assertThat(bad.err()).contains("cairn image create");
        assertThat(Files.readAllBytes(partial)).isEqualTo(before);
        // Not a log: exit 1 with the reader's words.
        bad = cairn.cli("log-writes", "ls", partial.toString());
        assertThat(bad.exit()).as(bad.toString()).isEqualTo(1);
        assertThat(bad.err()).contains("not a dm-log-writes log");
    }
}
