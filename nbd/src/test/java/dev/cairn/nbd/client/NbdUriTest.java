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
    }

    @Test
    void badUrisSayWhatWasExpected() {
        assertThatThrownBy(() -> parse("nbds://h/x")).hasMessage(
                "nbds://h/x (expected: nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)");
        assertThatThrownBy(() -> parse("nbd+unix:///x")).hasMessage(
                "nbd+unix:///x (expected: nbd+unix:///EXPORT?socket=PATH with a socket path)");
        assertThatThrownBy(() -> parse("nbd://h:0/x")).hasMessage("nbd://h:0/x (expected: a port from 1 to 65535)");
        assertThatThrownBy(() -> parse("nbd:///x")).hasMessage("nbd:///x (expected: nbd://HOST[:PORT]/EXPORT with a host)");
        assertThatThrownBy(() -> parse("nbd://h/x?tls=on")).hasMessage(
                "nbd://h/x?tls=on (expected: only the query parameters socket, connections and timeout; not [tls])");
        assertThatThrownBy(() -> parse("nbd://h/x?connections=0")).hasMessage(
                "nbd://h/x?connections=0 (expected: connections=N with N from 1 to 64)");
    }
}
