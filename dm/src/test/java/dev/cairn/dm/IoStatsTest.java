package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioOp;
import org.junit.jupiter.api.Test;

class IoStatsTest {
    @Test
    void eachRequestLandsInTheFirstBucketWhoseBoundItDoesNotExceed() {
        IoStats s = new IoStats();
        s.record(BioOp.WRITE, 4096, 16_000, false);     // on the first bound
        s.record(BioOp.WRITE, 4096, 16_001, false);     // just above: second bucket
        s.record(BioOp.WRITE, 1 << 20, 10_000_000_000L, true); // above the last bound: +Inf
        s.record(BioOp.READ, 512, 1, false);
        IoStats.Snapshot snap = s.snapshot(3);
        IoStats.OpStats w = snap.of(BioOp.WRITE);
        assertThat(w.requests()).isEqualTo(3);
        assertThat(w.bytes()).isEqualTo(4096 + 4096 + (1 << 20));
        assertThat(w.errors()).isEqualTo(1);
        assertThat(w.latencyNanos()).isEqualTo(16_000 + 16_001 + 10_000_000_000L);
        assertThat(w.bucketCounts()).hasSize(IoStats.LATENCY_BOUNDS_NANOS.size() + 1);
        assertThat(w.bucketCounts()[0]).isEqualTo(1);
        assertThat(w.bucketCounts()[1]).isEqualTo(1);
        assertThat(w.bucketCounts()[IoStats.LATENCY_BOUNDS_NANOS.size()]).isEqualTo(1);
        assertThat(snap.of(BioOp.READ).requests()).isEqualTo(1);
        assertThat(snap.of(BioOp.FLUSH).requests()).isZero();
        assertThat(snap.inFlight()).isEqualTo(3);
    }

    @Test
    void aMappedDeviceCountsWhatItCompletes() throws Exception {
        try (var submitter = dev.cairn.block.Submitter.create(dev.cairn.block.SubmitPolicy.FLUSH_ON_BLOCK);
             var registry = new DeviceRegistry(submitter)) {
            MappedDevice d = registry.create("z", "0 2048 zero");
            dev.cairn.testkit.Io.readOk(submitter, d, 0, 8192);
            dev.cairn.testkit.Io.writeOk(submitter, d, 8, java.lang.foreign.MemorySegment.ofArray(new byte[4096]));
            IoStats.Snapshot s = d.ioStats();
            assertThat(s.of(BioOp.READ).requests()).isEqualTo(1);
            assertThat(s.of(BioOp.READ).bytes()).isEqualTo(8192);
            assertThat(s.of(BioOp.WRITE).requests()).isEqualTo(1);
            assertThat(s.of(BioOp.WRITE).bytes()).isEqualTo(4096);
            assertThat(s.inFlight()).isZero();
        }
    }
}
