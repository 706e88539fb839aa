package dev.cairn.metrics;

import dev.cairn.block.BioOp;
import dev.cairn.dm.IoStats;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Cairn's metrics for the Prometheus client: on each scrape one {@link StatsReport} is collected and
 * turned into metric families. Names and what they count (docs/metrics.md):
 * <pre>
 * cairn_device_requests_total{device,op}          requests completed (op: read write flush discard write_zeroes)
 * cairn_device_bytes_total{device,op}             their bytes
 * cairn_device_errors_total{device,op}            those completed with an error
 * cairn_device_in_flight_requests{device}         received, not finished
 * cairn_device_request_duration_seconds{device,op} histogram, submit to completion
 * cairn_snapshot_allocated_bytes{device}          COW used (data and metadata), snapshot devices only
 * cairn_snapshot_metadata_bytes{device}           of which metadata
 * cairn_snapshot_size_bytes{device}               COW size
 * cairn_export_connections{export,device}         open NBD connections
 * cairn_bioset_punted_bios_total{bioset}          bios handed to the set's rescuer
 * cairn_bioset_rescued_bios_total{bioset}         bios the rescuer submitted
 * cairn_bioset_free_bios{bioset}                  bios in the pool now
 * cairn_watchdog_reports_total                    watchdog reports (stuck threads or bios)
 * </pre>
 *
 * <p>Thread safety: stateless apart from the source supplier; scrapes may run concurrently.
 */
public final class CairnCollector implements MultiCollector {
    private static final double[] BOUNDS_SECONDS = bounds();
    private final Supplier<MetricsSources> sources;

    /** {@code sources} gives null until the daemon is up; scrapes before then return no Cairn metrics. */
    public CairnCollector(Supplier<MetricsSources> sources) {
        this.sources = sources;
    }

    private static double[] bounds() {
        List<Long> nanos = IoStats.LATENCY_BOUNDS_NANOS;
        double[] b = new double[nanos.size() + 1];
        for (int i = 0; i < nanos.size(); i++) {
            b[i] = Unit.nanosToSeconds(nanos.get(i));
        }
        b[nanos.size()] = Double.POSITIVE_INFINITY;
        return b;
    }

    @Override
    public MetricSnapshots collect() {
        MetricsSources s = sources.get();
        if (s == null) {
            return MetricSnapshots.of();
        }
        return snapshots(StatsReport.collect(s, null));
    }

    static MetricSnapshots snapshots(StatsReport r) {
        var requests = CounterSnapshot.builder().name("cairn_device_requests").help("Requests completed by a device");
        var bytes = CounterSnapshot.builder().name("cairn_device_bytes").unit(Unit.BYTES).help("Bytes of the requests completed by a device");
        var errors = CounterSnapshot.builder().name("cairn_device_errors").help("Requests a device completed with an error");
        var inFlight = GaugeSnapshot.builder().name("cairn_device_in_flight_requests").help("Requests received by a device and not finished");
        var latency = HistogramSnapshot.builder().name("cairn_device_request_duration_seconds").unit(Unit.SECONDS)
                .help("Time from a device receiving a request to its completion");
        var snapAllocated = GaugeSnapshot.builder().name("cairn_snapshot_allocated_bytes").unit(Unit.BYTES)
                .help("Space of a snapshot's COW in use (data and metadata)");
        var snapMetadata = GaugeSnapshot.builder().name("cairn_snapshot_metadata_bytes").unit(Unit.BYTES)
                .help("Space of a snapshot's COW used by metadata");
        var snapSize = GaugeSnapshot.builder().name("cairn_snapshot_size_bytes").unit(Unit.BYTES).help("Size of a snapshot's COW");
        for (StatsReport.Device d : r.devices()) {
            inFlight.dataPoint(GaugeDataPointSnapshot.builder().value(d.io().inFlight()).labels(Labels.of("device", d.name())).build());
            for (BioOp op : BioOp.values()) {
                IoStats.OpStats o = d.io().of(op);
                Labels labels = Labels.of("device", d.name(), "op", op.name().toLowerCase(java.util.Locale.ROOT));
                requests.dataPoint(CounterDataPointSnapshot.builder().value(o.requests()).labels(labels).build());
                bytes.dataPoint(CounterDataPointSnapshot.builder().value(o.bytes()).labels(labels).build());
                errors.dataPoint(CounterDataPointSnapshot.builder().value(o.errors()).labels(labels).build());
                latency.dataPoint(HistogramDataPointSnapshot.builder()
                        .classicHistogramBuckets(ClassicHistogramBuckets.of(BOUNDS_SECONDS, o.bucketCounts()))
                        .sum(Unit.nanosToSeconds(o.latencyNanos())).labels(labels).build());
            }
            d.snapshot().ifPresent(u -> {
                Labels labels = Labels.of("device", d.name());
                snapAllocated.dataPoint(GaugeDataPointSnapshot.builder().value(u.allocatedSectors() * 512.0).labels(labels).build());
                snapMetadata.dataPoint(GaugeDataPointSnapshot.builder().value(u.metadataSectors() * 512.0).labels(labels).build());
                snapSize.dataPoint(GaugeDataPointSnapshot.builder().value(u.totalSectors() * 512.0).labels(labels).build());
            });
        }
        var connections = GaugeSnapshot.builder().name("cairn_export_connections").help("Open NBD connections of an export");
        for (StatsReport.Export e : r.exports()) {
            connections.dataPoint(GaugeDataPointSnapshot.builder().value(e.connections())
                    .labels(Labels.of("export", e.name(), "device", e.device())).build());
        }
        var punted = CounterSnapshot.builder().name("cairn_bioset_punted_bios").help("Bios punted to a bio set's rescuer thread");
        var rescued = CounterSnapshot.builder().name("cairn_bioset_rescued_bios").help("Bios a bio set's rescuer thread submitted");
        var free = GaugeSnapshot.builder().name("cairn_bioset_free_bios").help("Bios in a bio set's pool now");
        for (StatsReport.BioSetStats b : r.bioSets()) {
            Labels labels = Labels.of("bioset", b.name());
            punted.dataPoint(CounterDataPointSnapshot.builder().value(b.punted()).labels(labels).build());
            rescued.dataPoint(CounterDataPointSnapshot.builder().value(b.rescued()).labels(labels).build());
            free.dataPoint(GaugeDataPointSnapshot.builder().value(b.available()).labels(labels).build());
        }
        var watchdog = CounterSnapshot.builder().name("cairn_watchdog_reports").help("Watchdog reports of stuck threads or bios")
                .dataPoint(CounterDataPointSnapshot.builder().value(r.watchdogReports()).build());
        List<MetricSnapshot> all = new ArrayList<>(List.of(requests.build(), bytes.build(), errors.build(), inFlight.build(),
                latency.build(), snapAllocated.build(), snapMetadata.build(), snapSize.build(), connections.build(),
                punted.build(), rescued.build(), free.build(), watchdog.build()));
        return new MetricSnapshots(all);
    }
}
