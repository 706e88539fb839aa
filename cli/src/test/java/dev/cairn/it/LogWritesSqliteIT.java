package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A database over an NBD export of a log-writes device: sqlite3 (Debian's) commits rows one transaction at a
 * time (each commit fsyncs) on ext4 mounted from the export, and the test marks the log after each commit
 * returned. Replayed to every flush, FUA and mark, the database (read out of the replayed ext4 with
 * debugfs, its rollback journal with it) passes {@code PRAGMA integrity_check} and holds every row whose
 * commit had returned before that point.
 *
 * <p>{@code synchronous=EXTRA}, not FULL: in rollback-journal (DELETE) mode a commit is the unlink of the
 * journal, and only EXTRA syncs the directory after it. With FULL this checker finds the last commit
 * rolled back at the point right after sqlite3 returned (the journal file is still there, hot): SQLite
 * documents exactly that trade-off, and the test would fail at the {@code commit-0} mark.
 */
class LogWritesSqliteIT {
    private static final int COMMITS = 8;
    private static final String CHECK = "export PATH=" + Ext4OverNbd.SBIN_PATH + "\n" + """
            k=$(cat last-commit 2>/dev/null || echo -1)
            case "$CAIRN_LOG_MARK" in commit-*) k=${CAIRN_LOG_MARK#commit-}; echo "$k" > last-commit;; esac
            [ "$k" -ge 0 ] || exit 0
            cp --sparse=always "$CAIRN_REPLAY_TARGET" check.img || exit 1
            e2fsck -E journal_only -y check.img >/dev/null 2>&1
            rm -rf db && mkdir db
            debugfs -R "dump /db.sqlite db/db.sqlite" check.img >/dev/null 2>&1
            debugfs -R "dump /db.sqlite-journal db/db.sqlite-journal" check.img >/dev/null 2>&1
            [ -s db/db.sqlite ] || { echo "no database after commit $k"; exit 1; }
            ic=$(sqlite3 db/db.sqlite 'PRAGMA integrity_check') || exit 1
            [ "$ic" = ok ] || { echo "integrity_check: $ic"; exit 1; }
            n=$(sqlite3 db/db.sqlite "SELECT count(*) FROM t WHERE id <= $k AND length(v) = 5000") || exit 1
            [ "$n" = "$k" ] || { echo "committed rows present: $n of $k"; exit 1; }
            echo "$CAIRN_LOG_ENTRY $k" >> points
            """;

    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Ext4OverNbd ext4;

    @AfterEach
    void tearDown() {
        if (ext4 != null) {
            ext4.close();
        }
        if (cairn != null) {
            cairn.close();
        }
    }

    @Test
    void everyCommittedRowIsThereAtEveryReplayedFlush() throws Exception {
        Ext4OverNbd.requireTools("sqlite3");
        Path logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        Path state = tmp.resolve("state");
        int port = CairnProcesses.freePort();
        CairnProcesses.Daemon daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
        String sd = state.toString();
        ext4 = new Ext4OverNbd(tmp, logs);

        Path data = tmp.resolve("data.img");
        Path log = tmp.resolve("log.img");
        cairn.ok("image", "create", data.toString(), "64M");
        cairn.ok("image", "create", log.toString(), "256M");
        ext4.ok("mkfs.ext4", "-q", "-F", data.toString());
        Files.copy(data, tmp.resolve("replay.img"));
        cairn.ok("create", "lw", "--no-export", "--table", "0 131072 log-writes file:" + data + " file:" + log, "--state-dir", sd);
        cairn.ok("create", "db", "--table", "0 131072 linear lw 0", "--state-dir", sd);
        ext4.mount("nbd://127.0.0.1:" + port + "/db");

        ext4.sh("sqlite3 db.sqlite 'PRAGMA journal_mode=DELETE; PRAGMA synchronous=EXTRA; "
                + "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)'");
        cairn.ok("message", "lw", "0", "mark", "commit-0", "--state-dir", sd);
        for (int k = 1; k <= COMMITS; k++) {
            ext4.sh("sqlite3 db.sqlite 'PRAGMA synchronous=EXTRA; INSERT INTO t VALUES(" + k + ", randomblob(5000))'");
            // The commit returned, so its fsync did: from here on the row must be in every replayed state.
            cairn.ok("message", "lw", "0", "mark", "commit-" + k, "--state-dir", sd);
        }
        assertThat(ext4.sh("sqlite3 db.sqlite 'SELECT count(*) FROM t'").trim()).isEqualTo(Integer.toString(COMMITS));
        ext4.umount();
        cairn.ok("remove", "db", "--state-dir", sd);
        cairn.ok("remove", "lw", "--state-dir", sd);

        CairnProcesses.Result r = cairn.cli("log-writes", "replay", log.toString(), "--to", tmp.resolve("replay.img").toString(),
                "--check-at", "fua,flush,mark", "--check", CHECK);
        assertThat(r.exit()).as(r.toString()).isZero();
        Matcher m = Pattern.compile("checked (\\d+) points \\((\\d+) FUA, (\\d+) flush, (\\d+) mark\\): all passed").matcher(r.out());
        assertThat(m.find()).as(r.out()).isTrue();
        assertThat(Integer.parseInt(m.group(4))).isEqualTo(COMMITS + 2);
        // Every point from the first commit on really opened the database and counted rows.
        String points = Files.readString(tmp.resolve("points"));
        assertThat(points.lines().count()).isGreaterThanOrEqualTo(COMMITS + 1);
        assertThat(points).contains(" " + COMMITS + "\n");
        System.out.println("sqlite3 over log-writes: " + m.group(1) + " points checked (" + m.group(3) + " flush, " + m.group(4)
                + " mark), every committed row present at each");
    }
}
