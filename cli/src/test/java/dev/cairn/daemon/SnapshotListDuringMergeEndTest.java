package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.testkit.Poll;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code snapshot merge} polls {@code snapshot-ls NAME} until the snapshot is gone and fails when a listed
 * merging snapshot has no merge progress. At the last step of a merge's end the origin already has its own
 * table back while the snapshot is still recorded: a listing of that snapshot must wait for the end instead
 * of reporting a merge that stopped.
 */
class SnapshotListDuringMergeEndTest {
    @TempDir Path root;
    private Daemon daemon;
    private final CompletableFuture<Object> listedDuringCommit = new CompletableFuture<>();

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.stop();
        }
    }

    private Object call(String verb, Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return Wire.call(daemon, verb, m);
    }

    @Test
    @SuppressWarnings("unchecked")
    void aListingAtTheEndOfAMergeSeesItRunningOrFinished() throws Exception {
        DaemonHooks hook = new DaemonHooks() {
            @Override
            public void beforeStep(String verb, String name, String step) {
                if (Snapshots.MERGE_END.equals(verb) && "commit".equals(step) && !listedDuringCommit.isDone()) {
                    CompletableFuture.supplyAsync(() -> call("snapshot-ls", "name", "s"))
                            .whenComplete((r, e) -> {
                                if (e != null) {
                                    listedDuringCommit.completeExceptionally(e);
                                } else {
                                    listedDuringCommit.complete(r);
                                }
                            });
                    // Gives a listing that does not wait for the merge's end the time to answer in the window.
                    try {
                        Poll.until(listedDuringCommit::isDone, Duration.ofSeconds(2));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        daemon = Daemon.start(new Daemon.Config(new StateDir(root), "127.0.0.1", 0, true,
                new PrintStream(PrintStream.nullOutputStream(), true, StandardCharsets.UTF_8)), hook);
        call("snapshot-create", "origin", "vol0", "name", "s", "sizeBytes", 1L << 20);
        call("snapshot-merge", "name", "s");

        Map<String, Object> listed = (Map<String, Object>) listedDuringCommit.get(30, TimeUnit.SECONDS);
        for (Map<String, Object> snap : (List<Map<String, Object>>) listed.get("snapshots")) {
            assertThat(snap).as("a listed merging snapshot shows its progress").containsKey("mergeTotalSectors");
        }
        assertThat(Poll.until(() -> ((List<?>) ((Map<String, Object>) call("snapshot-ls")).get("snapshots")).isEmpty(),
                Duration.ofSeconds(30))).as("merge finished").isTrue();
    }
}
