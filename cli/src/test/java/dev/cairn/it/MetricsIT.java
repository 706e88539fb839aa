package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.testkit.Poll;
import io.prometheus.metrics.expositionformats.generated.com_google_protobuf_4_36_2.Metrics;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve --metrics} and {@code cairn stats} through real processes: I/O from qemu-io, the text
 * format fetched with curl, the protobuf format fetched with Java's HTTP client and parsed with the
 * Prometheus client's own generated parser ({@code Metrics.MetricFamily.parseDelimitedFrom}).
 */
class MetricsIT {
    private static final Pattern LISTENING = Pattern.compile("metrics on http://127\\.0\\.0\\.1:(\\d+)/metrics");

    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Path logs;

    @BeforeEach
    void setUp() throws Exception {
        logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs);
    }

    @AfterEach
    void tearDown() {
        cairn.close();
    }

    private static void requireTool(String tool) {
        assertThat(Path.of("/usr/bin", tool)).as(tool + " is needed by this test (apt-get install " + tool + ")").isExecutable();
    }

    @Test
    void countsWhatAClientDidInBothFormatsAndInCairnStats() throws Exception {
        requireTool("curl");
        requireTool("qemu-io");
        Path state = tmp.resolve("state");
        CairnProcesses.Daemon d = cairn.serve(state, "--no-tcp", "--metrics", "0");
        int port = metricsPort(d);
        String uri = "nbd+unix:///vol0?socket=" + state.resolve("nbd.sock");
        Tools.qemuIo(logs, uri, "write -P 0xab 0 64k", "write -P 0xcd 1M 4k", "read -P 0xab 0 64k");

        // Text format, with curl.
        CairnProcesses.Result text = Tools.run(logs, "curl", "-sS", "--fail", "http://127.0.0.1:" + port + "/metrics");
        assertThat(text.exit()).as(text.out()).isZero();
        assertThat(text.out()).contains(
                "# TYPE cairn_device_requests_total counter",
                "cairn_device_requests_total{device=\"vol0\",op=\"write\"} 2.0",
                "cairn_device_bytes_total{device=\"vol0\",op=\"write\"} 69632.0",
                "cairn_device_requests_total{device=\"vol0\",op=\"read\"} ",
                "cairn_device_request_duration_seconds_bucket{device=\"vol0\",op=\"write\",le=\"+Inf\"} 2",
                "cairn_device_in_flight_requests{device=\"vol0\"} 0.0",
                "cairn_export_connections{device=\"vol0\",export=\"vol0\"} 0.0",
                "cairn_watchdog_reports_total 0.0",
                "cairn_bioset_punted_bios_total{bioset=\"dm-vol0-clone\"}");

        // Protobuf format, parsed by the library.
        HttpResponse<InputStream> r = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                        .header("Accept", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")
                        .timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        List<Metrics.MetricFamily> families = new ArrayList<>();
        try (InputStream in = r.body()) {
            Metrics.MetricFamily f;
            while ((f = Metrics.MetricFamily.parseDelimitedFrom(in)) != null) {
                families.add(f);
            }
        }
        Metrics.MetricFamily requests = family(families, "cairn_device_requests_total").orElseThrow();
        assertThat(requests.getType()).isEqualTo(Metrics.MetricType.COUNTER);
        assertThat(counter(requests, "vol0", "write")).isEqualTo(2.0);
        assertThat(counter(requests, "vol0", "read")).isGreaterThanOrEqualTo(1.0);
        Metrics.MetricFamily latency = family(families, "cairn_device_request_duration_seconds").orElseThrow();
        assertThat(latency.getType()).isEqualTo(Metrics.MetricType.HISTOGRAM);
        Metrics.Histogram writes = latency.getMetricList().stream().filter(m -> labels(m, "vol0", "write")).findFirst()
                .orElseThrow().getHistogram();
        assertThat(writes.getSampleCount()).isEqualTo(2);
        assertThat(writes.getSampleSum()).isPositive();

        // cairn stats prints the same numbers.
        String json = cairn.ok("stats", "vol0", "--json", "--state-dir", state.toString());
        assertThat(json.replaceAll("\\s+", "")).contains("\"write\":{\"requests\":2,\"bytes\":69632,\"errors\":0");
        String table = cairn.ok("stats", "--state-dir", state.toString());
        assertThat(table).contains("DEVICE", "READ_BYTES", "BIOSET", "PUNTED", "RESCUED", "watchdog reports: 0")
                .containsPattern("vol0 +\\d+ +\\d+ +2 +69632 ");
        CairnProcesses.Result missing = cairn.cli("stats", "nosuch", "--state-dir", state.toString());
        assertThat(missing.exit()).as(missing.toString()).isNotZero();
        assertThat(missing.err()).contains("nosuch");
        assertThat(d.stop()).isZero();
    }

    @Test
    void aBusyMetricsPortFailsTheStartAndLeavesNothingBehind() throws Exception {
        Path first = tmp.resolve("first");
        CairnProcesses.Daemon d = cairn.serve(first, "--no-tcp", "--metrics", "127.0.0.1:0");
        int port = metricsPort(d);
        Path second = tmp.resolve("second");
        CairnProcesses.Daemon busy = cairn.serve(second, "--no-tcp", "--metrics", Integer.toString(port));
        assertThat(busy.waitForExit()).isEqualTo(1);
        assertThat(busy.stderr()).contains("cairn serve: --metrics 127.0.0.1:" + port + ": cannot listen");
        assertThat(second.resolve("state.json")).doesNotExist();
        assertThat(second.resolve("images")).doesNotExist();
        assertThat(d.stop()).isZero();
    }

    @Test
    void aBadMetricsAddressIsAUsageError() throws Exception {
        for (String bad : new String[] {"nonsense host:1", "a:b:1", "127.0.0.1:99999", "127.0.0.1:x"}) {
            CairnProcesses.Result r = cairn.cli("serve", "--state-dir", tmp.resolve("s").toString(), "--metrics", bad);
            assertThat(r.exit()).as(bad + "\n" + r).isEqualTo(2);
            assertThat(r.err()).contains("--metrics: " + bad + " (expected: ");
        }
        assertThat(tmp.resolve("s")).doesNotExist();
    }

    private static int metricsPort(CairnProcesses.Daemon d) throws Exception {
        assertThat(Poll.until(() -> {
            try {
                return LISTENING.matcher(d.stderr()).find();
            } catch (java.io.IOException e) {
                return false;
            }
        }, Duration.ofSeconds(30))).as(d.log()).isTrue();
        Matcher m = LISTENING.matcher(d.stderr());
        assertThat(m.find()).isTrue();
        return Integer.parseInt(m.group(1));
    }

    private static Optional<Metrics.MetricFamily> family(List<Metrics.MetricFamily> families, String name) {
        return families.stream().filter(f -> f.getName().equals(name)).findFirst();
    }

    private static boolean labels(Metrics.Metric m, String device, String op) {
        return m.getLabelList().stream().anyMatch(l -> l.getName().equals("device") && l.getValue().equals(device))
                && m.getLabelList().stream().anyMatch(l -> l.getName().equals("op") && l.getValue().equals(op));
    }

    private static double counter(Metrics.MetricFamily f, String device, String op) {
        return f.getMetricList().stream().filter(m -> labels(m, device, op)).findFirst().orElseThrow().getCounter().getValue();
    }
}
