package dev.cairn.rbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class RbdSpecTest {
    @Test
    void parsesPoolImageSnapshotAndParameters() {
        RbdSpec s = RbdSpec.parse("rbd:data/vm1@before?conf=/etc/ceph/c.conf&id=client.cairn&timeout=5");
        assertThat(s.pool()).isEqualTo("data");
        assertThat(s.image()).isEqualTo("vm1");
        assertThat(s.snapshot()).isEqualTo("before");
        assertThat(s.conf()).isEqualTo(Path.of("/etc/ceph/c.conf"));
        assertThat(s.user()).isEqualTo("cairn");
        assertThat(s.ioTimeout()).isEqualTo(Duration.ofSeconds(5));
        RbdSpec d = RbdSpec.parse("rbd:rbd/img");
        assertThat(d.snapshot()).isNull();
        assertThat(d.conf()).isNull();
        assertThat(d.user()).isEqualTo("admin");
        assertThat(d.ioTimeout()).isEqualTo(RbdSpec.DEFAULT_IO_TIMEOUT);
    }

    @Test
    void badSpecsSayWhatWasExpected() {
        assertThatThrownBy(() -> RbdSpec.parse("rbd:img")).hasMessage("rbd:img (expected: rbd:POOL/IMAGE[@SNAP] with a pool and an image)");
        assertThatThrownBy(() -> RbdSpec.parse("rbd:p/i@")).hasMessage("rbd:p/i@ (expected: rbd:POOL/IMAGE@SNAP with an image and a snapshot name)");
        assertThatThrownBy(() -> RbdSpec.parse("rbd:p/i?x=1")).hasMessage("rbd:p/i?x=1 (expected: only the parameters conf, id and timeout; not [x])");
        assertThatThrownBy(() -> RbdSpec.parse("rbd:p/i?timeout=-1")).hasMessage("rbd:p/i?timeout=-1 (expected: timeout=SECONDS from 0 to 86400)");
        assertThat(new RbdLeafType().checkSyntax("rbd:p")).isEqualTo("rbd:POOL/IMAGE[@SNAP] with a pool and an image");
    }
}
