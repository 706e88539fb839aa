package dev.cairn.nbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class NbdUriTest {
    private static NbdUri parse(String s) {
        return NbdUri.parse(s, NbdClientConfig.defaults());
    }

    @Test
    void tcpAndUnixForms() {
        NbdUri a = parse("nbd://example.com/disk");
        assertThat(a.host()).isEqualTo("example.com");
        assertThat(a.port()).isEqualTo(10809);
        assertThat(a.exportName()).isEqualTo("disk");
        NbdUri b = parse("nbd://10.0.0.1:10900/a%20b?connections=2&timeout=5");
        assertThat(b.port()).isEqualTo(10900);
        assertThat(b.exportName()).isEqualTo("a b");
        assertThat(b.config().connections()).isEqualTo(2);
        assertThat(b.config().ioTimeout()).isEqualTo(Duration.ofSeconds(5));
        NbdUri c = parse("nbd://[::1]:99/");
        assertThat(c.host()).isEqualTo("::1");
        assertThat(c.exportName()).isEmpty();
        assertThat(c.endpoint()).isEqualTo("[::1]:99");
        NbdUri d = parse("nbd+unix:///exp?socket=/run/s.sock");
        assertThat(d.isUnix()).isTrue();
        assertThat(d.socket()).isEqualTo(Path.of("/run/s.sock"));
        assertThat(d.exportName()).isEqualTo("exp");
        assertThat(parse("nbd://h").exportName()).isEmpty();
        assertThat(d.tls()).isNull();
    }

    @Test
    void tlsSchemesTakeLibnbdsQueryParameters() {
        NbdUri x = parse("nbds://localhost/disk?tls-certificates=/etc/pki/nbd");
        assertThat(x.isUnix()).isFalse();
        assertThat(x.tls()).isEqualTo(new dev.cairn.nbd.server.TlsClientChannel.X509(Path.of("/etc/pki/nbd")));
        NbdUri p = parse("nbds+unix:///disk?socket=/run/s.sock&tls-psk-file=/k.psk&tls-username=alice");
        assertThat(p.isUnix()).isTrue();
        assertThat(p.tls()).isEqualTo(new dev.cairn.nbd.server.TlsClientChannel.Psk(Path.of("/k.psk"), "alice"));
        assertThat(parse("nbds+unix://bob@/disk?socket=/s&tls-psk-file=/k.psk").tls())
                .isEqualTo(new dev.cairn.nbd.server.TlsClientChannel.Psk(Path.of("/k.psk"), "bob"));
        assertThat(parse("nbds://bob@h:99/disk?tls-psk-file=/k.psk").port()).isEqualTo(99);
        NbdUri me = parse("nbds+unix:///?socket=/s&tls-psk-file=/k.psk");
        assertThat(me.tls()).isEqualTo(new dev.cairn.nbd.server.TlsClientChannel.Psk(Path.of("/k.psk"),
                System.getProperty("user.name")));
    }

    @Test
    void badUrisSayWhatWasExpected() {
        assertThatThrownBy(() -> parse("nbdx://h/x")).hasMessage(
                "nbdx://h/x (expected: nbd[s]://HOST[:PORT]/EXPORT or nbd[s]+unix:///EXPORT?socket=PATH)");
        assertThatThrownBy(() -> parse("nbds://h/x")).hasMessage(
                "nbds://h/x (expected: nbds URIs with tls-certificates=DIR or tls-psk-file=FILE)");
        assertThatThrownBy(() -> parse("nbd://h/x?tls-certificates=/d")).hasMessage(
                "nbd://h/x?tls-certificates=/d (expected: tls-* parameters and USER@ only with nbds:// or nbds+unix://)");
        assertThatThrownBy(() -> parse("nbds://h/x?tls-certificates=/d&tls-psk-file=/k")).hasMessageContaining(
                "not both");
        assertThatThrownBy(() -> parse("nbds://h/x?tls-certificates=/d&tls-username=u")).hasMessageContaining(
                "only with tls-psk-file=");
        assertThatThrownBy(() -> parse("nbd+unix:///x")).hasMessage(
                "nbd+unix:///x (expected: nbd+unix:///EXPORT?socket=PATH with a socket path)");
        assertThatThrownBy(() -> parse("nbd://h:0/x")).hasMessage("nbd://h:0/x (expected: a port from 1 to 65535)");
        assertThatThrownBy(() -> parse("nbd:///x")).hasMessage("nbd:///x (expected: nbd://HOST[:PORT]/EXPORT with a host)");
        assertThatThrownBy(() -> parse("nbd://h/x?tls=on")).hasMessage(
                "nbd://h/x?tls=on (expected: only the query parameters socket, connections, timeout, tls-certificates, "
                + "tls-psk-file and tls-username; not [tls])");
        assertThatThrownBy(() -> parse("nbd://h/x?connections=0")).hasMessage(
                "nbd://h/x?connections=0 (expected: connections=N with N from 1 to 64)");
    }
}
