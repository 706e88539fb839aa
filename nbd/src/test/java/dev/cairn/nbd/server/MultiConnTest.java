package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** CAN_MULTI_CONN is advertised, so a FLUSH on one connection must cover writes replied to on another. */
class MultiConnTest {
    private final CacheDevice device = new CacheDevice("cached", 1 << 20);
    private final ServerFixture f = new ServerFixture().export(NbdExport.of("cached", device));

    @AfterEach
    void tearDown() {
        f.assertQuiescent();
        f.close();
    }

    @Test
    void flushOnOneConnectionCoversWritesAcknowledgedOnOthers() {
        List<TestClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) {
                TestClient c = TestClient.connect(f.server);
                int flags = c.go("cached", true, false).flags();
                assertThat(flags & (TF_CAN_MULTI_CONN | TF_SEND_FLUSH)).isEqualTo(TF_CAN_MULTI_CONN | TF_SEND_FLUSH);
                clients.add(c);
            }
            Random rnd = new Random(42);
            byte[][] written = new byte[3][];
            for (int i = 0; i < 3; i++) {
                written[i] = new byte[64 * 1024];
                rnd.nextBytes(written[i]);
                TestClient c = clients.get(i);
                c.write(0, i, i * 64L * 1024, written[i]);
                assertThat(c.readSimple().error()).isZero();
            }
            for (int i = 0; i < 3; i++) {
                assertThat(device.durable(i * 64 * 1024, 64 * 1024)).as("not durable before any flush")
                        .isNotEqualTo(written[i]);
            }
            TestClient flusher = clients.get(3);
            flusher.request(0, CMD_FLUSH, 99, 0, 0);
            assertThat(flusher.readSimple().error()).isZero();
            for (int i = 0; i < 3; i++) {
                assertThat(device.durable(i * 64 * 1024, 64 * 1024)).as("durable after a flush on another connection")
                        .isEqualTo(written[i]);
            }
            // FUA on one connection is durable at its reply, whatever the others do.
            byte[] fua = new byte[4096];
            rnd.nextBytes(fua);
            clients.get(0).write(CMD_FLAG_FUA, 100, 512 * 1024, fua);
            assertThat(clients.get(0).readSimple().error()).isZero();
            assertThat(device.durable(512 * 1024, 4096)).isEqualTo(fua);
            for (TestClient c : clients) {
                c.disconnect();
                assertThat(c.closedByServer()).isTrue();
            }
        } finally {
            clients.forEach(TestClient::close);
        }
    }
}
