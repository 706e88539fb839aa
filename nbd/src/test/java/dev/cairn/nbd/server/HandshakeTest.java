package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.server.TestClient.OptionReply;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The fixed newstyle handshake at the byte level, every option and every error answer. */
class HandshakeTest {
    private final MemoryStore disk = new MemoryStore("disk", 1 << 20);
    private final MemoryStore other = new MemoryStore("other", 2 << 20);
    private final ServerFixture f = new ServerFixture()
            .export(NbdExport.of("disk", disk).description("the disk"))
            .export(NbdExport.of("ro", other).readOnly(true));

    @AfterEach
    void tearDown() {
        f.assertQuiescent();
        f.close();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void greetingIsFixedNewstyleWithNoZeroesAndAbortIsAcked() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            List<OptionReply> r = c.option(OPT_ABORT, new byte[0]);
            assertThat(r).singleElement().extracting(OptionReply::type).isEqualTo(REP_ACK);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void unknownClientFlagsOrMissingFixedNewstyleDropTheConnection() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello(FLAG_C_FIXED_NEWSTYLE | 4);
            assertThat(c.closedByServer()).isTrue();
        }
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello(FLAG_C_NO_ZEROES);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void badOptionMagicDropsTheConnection() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            c.send(ByteBuffer.allocate(16).putLong(CLISERV_MAGIC).putInt(OPT_LIST).putInt(0).flip());
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void unknownOptionsAreUnsupportedAndHagglingGoesOn() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            for (int opt : new int[] {OPT_PEEK_EXPORT, OPT_EXTENDED_HEADERS, 12, 0, 0x7fffffff, -1}) {
                List<OptionReply> r = c.option(opt, new byte[] {1, 2, 3});
                assertThat(r).singleElement().extracting(OptionReply::type).isEqualTo(REP_ERR_UNSUP);
            }
            List<OptionReply> r = c.option(OPT_GO, TestClient.infoData("disk"));
            assertThat(r.getLast().type()).isEqualTo(REP_ACK);
            c.disconnect();
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void startTlsIsRefusedByPolicyWhenTlsIsOff() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            OptionReply r = c.option(OPT_STARTTLS, new byte[0]).getFirst();
            assertThat(r.type()).isEqualTo(REP_ERR_POLICY);
            assertThat(r.text()).contains("TLS is off");
            c.option(OPT_ABORT, new byte[0]);
        }
    }

    @Test
    void listSendsEveryExportWithDescriptionThenAck() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            List<OptionReply> r = c.option(OPT_LIST, new byte[0]);
            assertThat(r).hasSize(3);
            ByteBuffer d = r.get(0).data();
            assertThat(r.get(0).type()).isEqualTo(REP_SERVER);
            int n = d.getInt();
            byte[] name = new byte[n];
            d.get(name);
            byte[] desc = new byte[d.remaining()];
            d.get(desc);
            assertThat(new String(name, StandardCharsets.UTF_8)).isEqualTo("disk");
            assertThat(new String(desc, StandardCharsets.UTF_8)).isEqualTo("the disk");
            assertThat(r.get(1).data().getInt(0)).isEqualTo(2);
            assertThat(r.get(2).type()).isEqualTo(REP_ACK);
            assertThat(c.option(OPT_LIST, new byte[] {0}).getFirst().type()).isEqualTo(REP_ERR_INVALID);
            c.option(OPT_ABORT, new byte[0]);
        }
    }

    @Test
    void infoAnswersExportNameDescriptionAndBlockSizeAndStaysInHandshake() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            List<OptionReply> r = c.option(OPT_INFO, TestClient.infoData("disk", INFO_NAME, INFO_DESCRIPTION,
                    INFO_BLOCK_SIZE, 77));
            assertThat(r).extracting(OptionReply::type).containsExactly(REP_INFO, REP_INFO, REP_INFO, REP_INFO, REP_ACK);
            ByteBuffer export = r.get(0).data();
            assertThat(export.remaining()).isEqualTo(12);
            assertThat(export.getShort()).isEqualTo((short) INFO_EXPORT);
            assertThat(export.getLong()).isEqualTo(1 << 20);
            int flags = Short.toUnsignedInt(export.getShort());
            // MemoryStore: no volatile cache (no FLUSH/FUA), discard and write-zeroes; no DF without structured replies.
            assertThat(flags).isEqualTo(TF_HAS_FLAGS | TF_SEND_TRIM | TF_SEND_WRITE_ZEROES | TF_CAN_MULTI_CONN
                    | TF_SEND_CACHE | TF_SEND_FAST_ZERO);
            assertThat(r.get(1).data().getShort(0)).isEqualTo((short) INFO_NAME);
            assertThat(r.get(1).text().substring(2)).isEqualTo("disk");
            assertThat(r.get(2).text().substring(2)).isEqualTo("the disk");
            ByteBuffer bs = r.get(3).data();
            assertThat(bs.remaining()).isEqualTo(14);
            assertThat(bs.getShort()).isEqualTo((short) INFO_BLOCK_SIZE);
            assertThat(bs.getInt()).isEqualTo(512);
            assertThat(bs.getInt()).isEqualTo(4096);
            assertThat(bs.getInt()).isEqualTo(32 << 20);
            // Still haggling: a second INFO for the read-only export, with structured replies first.
            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            List<OptionReply> ro = c.option(OPT_INFO, TestClient.infoData("ro"));
            int roFlags = Short.toUnsignedInt(ro.getFirst().data().getShort(10));
            assertThat(roFlags).isEqualTo(TF_HAS_FLAGS | TF_READ_ONLY | TF_SEND_DF | TF_CAN_MULTI_CONN | TF_SEND_CACHE);
            c.option(OPT_ABORT, new byte[0]);
        }
    }

    @Test
    void infoAndGoErrors() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            assertThat(c.option(OPT_GO, TestClient.infoData("nope")).getFirst().type()).isEqualTo(REP_ERR_UNKNOWN);
            assertThat(c.option(OPT_INFO, new byte[] {0, 0}).getFirst().type()).isEqualTo(REP_ERR_INVALID);
            // name length beyond the data
            assertThat(c.option(OPT_GO, ByteBuffer.allocate(6).putInt(100).putShort((short) 0).array()).getFirst()
                    .type()).isEqualTo(REP_ERR_INVALID);
            // request count that does not match the data
            assertThat(c.option(OPT_GO, ByteBuffer.allocate(8).putInt(0).putShort((short) 5).array()).getFirst()
                    .type()).isEqualTo(REP_ERR_INVALID);
            // invalid UTF-8 name
            assertThat(c.option(OPT_GO, ByteBuffer.allocate(7).putInt(1).put((byte) 0xff).putShort((short) 0)
                    .array()).getFirst().type()).isEqualTo(REP_ERR_INVALID);
            // a NUL in the name
            assertThat(c.option(OPT_GO, TestClient.infoData("di\0sk")).getFirst().type()).isEqualTo(REP_ERR_INVALID);
            // Errors are not fatal.
            assertThat(c.option(OPT_GO, TestClient.infoData("disk")).getLast().type()).isEqualTo(REP_ACK);
            c.disconnect();
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void exportNameWithAndWithoutZeroPadding() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            c.sendOption(OPT_EXPORT_NAME, utf8("ro"));
            ByteBuffer b = c.read(10);
            assertThat(b.getLong()).isEqualTo(2 << 20);
            assertThat(Short.toUnsignedInt(b.getShort()) & TF_READ_ONLY).isNotZero();
            assertThat(c.quietFor(50)).as("no zero padding after NO_ZEROES").isTrue();
            c.disconnect();
            assertThat(c.closedByServer()).isTrue();
        }
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello(FLAG_C_FIXED_NEWSTYLE);
            c.sendOption(OPT_EXPORT_NAME, utf8("disk"));
            ByteBuffer b = c.read(10 + EXPORT_NAME_ZERO_PAD);
            assertThat(b.getLong()).isEqualTo(1 << 20);
            b.getShort();
            while (b.hasRemaining()) {
                assertThat(b.get()).isZero();
            }
            c.disconnect();
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void aClientCountsAsTheExportsUserAsSoonAsItHasTheLastHandshakeReply() {
        // A client that just got its reply may at once ask (through the daemon) to remove the export, which
        // is refused while connectionCount says someone uses it: no window in which it says 0.
        // The server pauses after each write: were the connection counted only after its last handshake
        // write, the client would look inside that pause every time.
        Runnable pause = () -> {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        for (int i = 0; i < 3; i++) {
            PipeTransport t = new PipeTransport();
            t.afterWrite = pause;
            try (TestClient c = TestClient.connect(f.server, t)) {
                c.hello(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
                c.sendOption(OPT_EXPORT_NAME, utf8("disk"));
                c.read(10);
                assertThat(f.server.connectionCount("disk")).as("EXPORT_NAME, round %d", i).isEqualTo(1);
                c.disconnect();
                assertThat(c.closedByServer()).isTrue();
            }
            f.assertQuiescent();
            PipeTransport g = new PipeTransport();
            g.afterWrite = pause;
            try (TestClient c = TestClient.connect(f.server, g)) {
                c.go("disk", false, false);
                assertThat(f.server.connectionCount("disk")).as("GO, round %d", i).isEqualTo(1);
                c.disconnect();
                assertThat(c.closedByServer()).isTrue();
            }
            f.assertQuiescent();
        }
    }

    @Test
    void exportNameForAnUnknownExportCanOnlyDisconnect() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            c.sendOption(OPT_EXPORT_NAME, utf8("missing"));
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void structuredReplyTakesNoData() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            assertThat(c.option(OPT_STRUCTURED_REPLY, new byte[] {1}).getFirst().type()).isEqualTo(REP_ERR_INVALID);
            assertThat(c.option(OPT_STRUCTURED_REPLY, new byte[0]).getFirst().type()).isEqualTo(REP_ACK);
            c.option(OPT_ABORT, new byte[0]);
        }
    }

    @Test
    void metaContextListAndSet() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            assertThat(c.option(OPT_SET_META_CONTEXT, TestClient.metaData("disk", META_BASE_ALLOCATION)).getFirst()
                    .type()).as("SET before STRUCTURED_REPLY").isEqualTo(REP_ERR_INVALID);
            // LIST works without structured replies; no query lists everything, "base:" the namespace.
            for (String[] queries : new String[][] {{}, {"base:"}, {META_BASE_ALLOCATION}}) {
                List<OptionReply> r = c.option(OPT_LIST_META_CONTEXT, TestClient.metaData("disk", queries));
                assertThat(r).extracting(OptionReply::type).containsExactly(REP_META_CONTEXT, REP_ACK);
                assertThat(r.getFirst().data().getInt(0)).isZero();
                assertThat(r.getFirst().text().substring(4)).isEqualTo(META_BASE_ALLOCATION);
            }
            assertThat(c.option(OPT_LIST_META_CONTEXT, TestClient.metaData("disk", "qemu:dirty-bitmap:b0")))
                    .extracting(OptionReply::type).containsExactly(REP_ACK);
            assertThat(c.option(OPT_LIST_META_CONTEXT, TestClient.metaData("nope")).getFirst().type())
                    .isEqualTo(REP_ERR_UNKNOWN);
            assertThat(c.option(OPT_LIST_META_CONTEXT, new byte[] {0, 0, 0}).getFirst().type())
                    .isEqualTo(REP_ERR_INVALID);
            // a query count larger than the data
            assertThat(c.option(OPT_LIST_META_CONTEXT, ByteBuffer.allocate(8).putInt(0).putInt(3).array()).getFirst()
                    .type()).isEqualTo(REP_ERR_INVALID);
            // a query length beyond the data
            assertThat(c.option(OPT_LIST_META_CONTEXT, ByteBuffer.allocate(12).putInt(0).putInt(1).putInt(99).array())
                    .getFirst().type()).isEqualTo(REP_ERR_INVALID);
            // trailing bytes after the last query
            byte[] trailing = java.util.Arrays.copyOf(TestClient.metaData("disk"), 9);
            assertThat(c.option(OPT_LIST_META_CONTEXT, trailing).getFirst().type()).isEqualTo(REP_ERR_INVALID);
            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            List<OptionReply> set = c.option(OPT_SET_META_CONTEXT, TestClient.metaData("disk", "base:", META_BASE_ALLOCATION));
            assertThat(set).extracting(OptionReply::type).containsExactly(REP_META_CONTEXT, REP_ACK);
            assertThat(set.getFirst().data().getInt(0)).isEqualTo(Handshake.BASE_ALLOCATION_ID);
            c.option(OPT_ABORT, new byte[0]);
        }
    }

    @Test
    void optionFloodIsCut() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            for (int i = 0; i < Handshake.MAX_OPTIONS; i++) {
                assertThat(c.option(99, new byte[0]).getFirst().type()).isEqualTo(REP_ERR_UNSUP);
            }
            assertThat(c.option(OPT_LIST, new byte[0]).getFirst().type()).isEqualTo(REP_ERR_POLICY);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void longOptionIsSkippedAndRefusedHugeOneDisconnects() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            OptionReply r = c.option(OPT_INFO, new byte[Handshake.MAX_OPTION_BYTES + 1]).getFirst();
            assertThat(r.type()).isEqualTo(REP_ERR_TOO_BIG);
            assertThat(c.option(OPT_GO, TestClient.infoData("disk")).getLast().type()).isEqualTo(REP_ACK);
            c.disconnect();
            assertThat(c.closedByServer()).isTrue();
        }
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            c.send(ByteBuffer.allocate(16).putLong(IHAVEOPT).putInt(OPT_INFO).putInt(0xffff_fff0).flip());
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void emptyNameSelectsTheOnlyExportOrTheConfiguredDefault() {
        try (ServerFixture one = new ServerFixture().export(NbdExport.of("only", disk));
                TestClient c = TestClient.connect(one.server)) {
            assertThat(c.go("", false, false).sizeBytes()).isEqualTo(1 << 20);
            c.disconnect();
            assertThat(c.closedByServer()).isTrue();
        }
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            assertThat(c.option(OPT_GO, TestClient.infoData("")).getFirst().type()).as("two exports, no default")
                    .isEqualTo(REP_ERR_UNKNOWN);
            c.option(OPT_ABORT, new byte[0]);
        }
        try (ServerFixture def = new ServerFixture(b -> b.defaultExport("b")).export(NbdExport.of("a", disk))
                .export(NbdExport.of("b", other)); TestClient c = TestClient.connect(def.server)) {
            assertThat(c.go("", false, false).sizeBytes()).isEqualTo(2 << 20);
            c.disconnect();
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void clientVanishingDuringHandshakeIsHarmless() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            c.send(ByteBuffer.allocate(10).putLong(IHAVEOPT).putShort((short) 0).flip());
        }
        try (TestClient c = TestClient.connect(f.server)) {
            c.read(18);
        }
    }

    @Test
    void exportValidationAndRegistry() {
        assertThatThrownBy(() -> NbdExport.of("a\0b", disk)).hasMessageContaining("NUL");
        assertThatThrownBy(() -> NbdExport.of("x".repeat(4097), disk)).hasMessageContaining("4097 bytes");
        assertThatThrownBy(() -> f.server.addExport(NbdExport.of("disk", other)))
                .hasMessageContaining("'disk' (expected: a name not in use)");
        assertThat(f.server.exports()).extracting(NbdExport::name).containsExactly("disk", "ro");
        assertThat(f.server.removeExport("nope")).isFalse();
        assertThat(NbdExport.of("x", disk).readOnly(true).readOnly()).isTrue();
    }
}
