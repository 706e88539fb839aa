package dev.cairn.nbd.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.Poll;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A connection that dies between its handshake and joining the live list (the server killed at that moment,
 * as NbdClientTlsIT's kill-and-restart test hit under load) must not count as live: the client replaces it.
 */
class ReconnectRaceTest {
    @TempDir
    Path dir;

    @Test
    void aConnectionThatDiesBeforeItIsListedIsReplaced() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK)) {
            MemoryStore store = stack.memoryStore("remote", 8 << 20);
            Path sock = dir.resolve("s.sock");
            NbdServer server = stack.add(NbdServer.builder().submitter(stack.submitter()).unix(sock).build());
            server.addExport(NbdExport.of("disk", store));
            server.start();
            AtomicInteger connected = new AtomicInteger();
            ClientHooks killFirst = new ClientHooks() {
                @Override
                public void connected(ClientConnection c) {
                    if (connected.incrementAndGet() == 1) {
                        c.kill("killed by the test between handshake and listing");
                    }
                }
            };
            NbdUri uri = NbdUri.parse("nbd+unix:///disk?socket=" + sock,
                    NbdClientConfig.defaults().withConnections(2).withReconnect(Duration.ofMillis(10), Duration.ofMillis(50)));
            try (NbdClientDevice d = NbdClientDevice.open(uri, killFirst)) {
                // The second connection (opened in the background, multi-conn) dies before it is listed; the
                // client must open a third in its place.
                assertThat(Poll.until(() -> connected.get() >= 2 && d.stats().liveConnections() == 2, Duration.ofSeconds(10)))
                        .as(d.stats().toString()).isTrue();
                assertThat(d.stats().droppedConnections()).isEqualTo(1);
                assertThat(d.stats().reconnects()).isEqualTo(1);
                // Both listed connections serve I/O (requests go round-robin over them).
                for (int i = 0; i < 4; i++) {
                    MemorySegment data = Pattern.segment(i * 4096L, 4096, 11);
                    Io.writeOk(stack.submitter(), d, i * 8L, data);
                    assertThat(Io.readOk(stack.submitter(), d, i * 8L, 4096).mismatch(data)).isEqualTo(-1);
                }
                assertThat(d.stats().droppedConnections()).isEqualTo(1);
            }
        }
    }
}
