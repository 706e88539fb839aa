package dev.cairn.dm;

import dev.cairn.block.BioOp;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * I/O counters of one mapped device, what {@code dmstats} and {@code /proc/diskstats} report: per
 * operation the requests completed, their bytes and errors, and a latency histogram of every request
 * from {@link MappedDevice#submitBio} to its completion (held time while suspended included, as in
 * Linux's io ticks). Flushes, discards and write-zeroes are counted apart from reads and writes.
 *
 * <p>Latency buckets: powers of two from 16 µs to 4.2 s (19 bounds), plus +Inf; a request lands in
 * the first bucket whose bound it does not exceed. Fixed buckets keep recording to one array index
 * and one {@link LongAdder} increment.
 *
 * <p>Thread safety: {@link #record} may be called from any number of threads at once (LongAdder
 * cells); {@link #snapshot} reads each counter once, so a snapshot taken during I/O may be a few
 * requests apart between counters, never torn within one.
 */
public final class IoStats {
    /** Upper bounds of the latency buckets, in nanoseconds (the last bucket, +Inf, is implicit). */
    public static final List<Long> LATENCY_BOUNDS_NANOS = bounds();

    private static final int OPS = BioOp.values().length;
    private static final int BUCKETS = LATENCY_BOUNDS_NANOS.size() + 1;
    private static final long[] BOUNDS = LATENCY_BOUNDS_NANOS.stream().mapToLong(Long::longValue).toArray();

    private final LongAdder[] requests = adders(OPS);
    private final LongAdder[] bytes = adders(OPS);
    private final LongAdder[] errors = adders(OPS);
    private final LongAdder[] latencyNanos = adders(OPS);
    /** [op * BUCKETS + bucket]. */
    private final LongAdder[] buckets = adders(OPS * BUCKETS);

    private static List<Long> bounds() {
        Long[] b = new Long[19];
        for (int i = 0; i < b.length; i++) {
            b[i] = 16_000L << i;
        }
        return List.of(b);
    }

    private static LongAdder[] adders(int n) {
        LongAdder[] a = new LongAdder[n];
        for (int i = 0; i < n; i++) {
            a[i] = new LongAdder();
        }
        return a;
    }

    /** Counts one finished request of {@code op} that moved {@code sizeBytes} in {@code latencyNanos}. */
    public void record(BioOp op, long sizeBytes, long latencyNanos, boolean failed) {
        int o = op.ordinal();
        requests[o].increment();
        bytes[o].add(sizeBytes);
        if (failed) {
            errors[o].increment();
        }
        this.latencyNanos[o].add(latencyNanos);
        int b = 0;
        while (b < BOUNDS.length && latencyNanos > BOUNDS[b]) {
            b++;
        }
        buckets[o * BUCKETS + b].increment();
    }

    /** The counters now; {@code inFlight} is passed in by the device, which owns that count. */
    public Snapshot snapshot(long inFlight) {
        OpStats[] ops = new OpStats[OPS];
        for (BioOp op : BioOp.values()) {
            int o = op.ordinal();
            long[] counts = new long[BUCKETS];
            for (int b = 0; b < BUCKETS; b++) {
                counts[b] = buckets[o * BUCKETS + b].sum();
            }
            ops[o] = new OpStats(op, requests[o].sum(), bytes[o].sum(), errors[o].sum(), latencyNanos[o].sum(), counts);
        }
        return new Snapshot(inFlight, List.of(ops));
    }

    /**
     * One device's counters at one moment.
     *
     * @param inFlight requests received and not finished (held ones while suspended excluded)
     * @param ops      one entry per {@link BioOp}, in enum order
     */
    public record Snapshot(long inFlight, List<OpStats> ops) {
        public OpStats of(BioOp op) {
            return ops.get(op.ordinal());
        }
    }

    /**
     * One operation's counters.
     *
     * @param requests       requests completed
     * @param bytes          bytes they covered
     * @param errors         those that completed with an error
     * @param latencyNanos   sum of their latencies
     * @param bucketCounts   requests per latency bucket (not cumulative), {@link #LATENCY_BOUNDS_NANOS} then +Inf
     */
    public record OpStats(BioOp op, long requests, long bytes, long errors, long latencyNanos, long[] bucketCounts) {}
}
