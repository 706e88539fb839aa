package dev.cairn.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code cairn serve --metrics HOST:PORT}: the Prometheus client's HTTP exporter on its own registry
 * (no JVM metrics, only Cairn's), serving {@code /metrics} in the text format, OpenMetrics or protobuf
 * as the scraper asks. It is bound before the daemon starts (so a busy port fails the start before
 * anything is created) and shows Cairn's metrics once {@link #attach} hands it the daemon's sources.
 *
 * <p>Thread safety: {@link #attach} and {@link #close} may be called from any thread; scrapes run on
 * the exporter's own threads.
 */
public final class MetricsServer implements AutoCloseable {
    private final AtomicReference<MetricsSources> sources = new AtomicReference<>();
    private final HTTPServer http;

    private MetricsServer(String host, int port) throws IOException {
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new CairnCollector(sources::get));
        this.http = HTTPServer.builder().hostname(host).port(port).registry(registry).buildAndStart();
    }

    /** Binds HOST:PORT (0: a free port) and starts serving; throws when the address cannot be bound. */
    public static MetricsServer start(String host, int port) throws IOException {
        return new MetricsServer(host, port);
    }

    /** From now on scrapes report these sources. */
    public void attach(MetricsSources value) {
        // happens-before: the scrape thread's get() sees the daemon's objects fully built.
        sources.set(value);
    }

    /** The bound port. */
    public int port() {
        return http.getPort();
    }

    @Override
    public void close() {
        http.close();
    }
}
