package dev.cairn.rbd;

import static org.assertj.core.api.Assertions.fail;

import dev.cairn.testkit.ExternalTools;
import dev.cairn.testkit.Poll;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A throwaway one-node Ceph cluster for tests (docs/scale-out.md, ../shared facts): one monitor, one
 * manager, one memstore OSD, on loopback, auth off, pool {@code rbd}. Started from the Debian packages
 * (ceph-mon, ceph-mgr, ceph-osd, ceph-common; the test fails naming them when missing), stopped by pid.
 * The monitor ports are picked below 32768 (the ephemeral range once collided with a mon port) and the
 * start is retried on another port if the monitor cannot bind. Every ceph CLI call has a timeout: a CLI
 * that cannot reach a monitor hangs forever otherwise.
 *
 * <p>Thread safety: not thread-safe; one per test class.
 */
public final class CephCluster implements AutoCloseable {
    private static final Duration CLI_TIMEOUT = Duration.ofSeconds(60);

    private final Path dir;
    private final Path conf;
    private final List<Long> pids = new ArrayList<>();
    private long osdPid;
    private int osdId;

    private CephCluster(Path dir) {
        this.dir = dir;
        this.conf = dir.resolve("ceph.conf");
    }

    /** Starts a cluster under {@code dir} (about 8 s) with pool {@code rbd} initialised. */
    public static CephCluster start(Path dir) throws Exception {
        for (String tool : new String[] {"ceph-mon", "ceph-mgr", "ceph-osd"}) {
            ExternalTools.require(tool, tool);
        }
        ExternalTools.require("ceph", "ceph-common");
        ExternalTools.require("monmaptool", "ceph-base");
        ExternalTools.require("rbd", "ceph-common");
        AssertionError last = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            Path d = dir.resolve("ceph-" + attempt);
            CephCluster c = new CephCluster(d);
            try {
                c.boot(17000 + 2 * ThreadLocalRandom.current().nextInt(7000));
                return c;
            } catch (AssertionError e) {
                last = e;
                c.close();
            }
        }
        throw last;
    }

    public Path conf() {
        return conf;
    }

    private void boot(int port) throws Exception {
        for (String sub : new String[] {"run", "log", "mon", "mgr", "osd"}) {
            Files.createDirectories(dir.resolve(sub));
        }
        Files.createFile(dir.resolve("keyring"));
        String fsid = UUID.randomUUID().toString();
        String monHost = "[v2:127.0.0.1:" + port + ",v1:127.0.0.1:" + (port + 1) + "]";
        Files.writeString(conf, """
                [global]
                fsid = %s
                mon host = %s
                public addr = 127.0.0.1
                auth cluster required = none
                auth service required = none
                auth client required = none
                osd pool default size = 1
                osd pool default min size = 1
                mon allow pool size one = true
                mon warn on pool no redundancy = false
                mon allow pool delete = true
                mon data avail warn = 1
                mon data avail crit = 0
                osd crush chooseleaf type = 0
                osd objectstore = memstore
                memstore device bytes = 2147483648
                memstore page set = true
                mgr stats period = 1
                mon mgr digest period = 1
                mgr tick period = 1
                osd mon report interval = 1
                run dir = %s/run
                admin socket = %s/run/$name.asok
                pid file = %s/run/$name.pid
                log file = %s/log/$name.log
                mon data = %s/mon/$cluster-$id
                mgr data = %s/mgr/$cluster-$id
                osd data = %s/osd/$cluster-$id
                keyring = %s/keyring
                """.formatted(fsid, monHost, dir, dir, dir, dir, dir, dir, dir, dir));
        String c = conf.toString();
        run("monmaptool", "--create", "--addv", "a", monHost, "--fsid", fsid, dir.resolve("monmap").toString());
        run("ceph-mon", "-c", c, "--mkfs", "-i", "a", "--monmap", dir.resolve("monmap").toString());
        run("ceph-mon", "-c", c, "-i", "a");
        pids.add(pidOf("mon.a"));
        run("ceph-mgr", "-c", c, "-i", "x");
        pids.add(pidOf("mgr.x"));
        osdId = Integer.parseInt(ceph("osd", "create").trim());
        Files.createDirectories(dir.resolve("osd/ceph-" + osdId));
        run("ceph-osd", "-c", c, "-i", Integer.toString(osdId), "--mkfs");
        startOsd();
        if (!Poll.until(() -> ceph("osd", "stat").contains("1 up"), Duration.ofSeconds(60))) {
            fail("the OSD did not come up: " + ceph("osd", "stat"));
        }
        ceph("osd", "pool", "create", "rbd", "8");
        rbd("pool", "init", "rbd");
    }

    private void startOsd() throws Exception {
        run("ceph-osd", "-c", conf.toString(), "-i", Integer.toString(osdId));
        osdPid = pidOf("osd." + osdId);
        pids.add(osdPid);
    }

    private long pidOf(String name) throws Exception {
        Path pidFile = dir.resolve("run/" + name + ".pid");
        if (!Poll.until(() -> Files.exists(pidFile) && !read(pidFile).isBlank(), Duration.ofSeconds(20))) {
            fail(name + " wrote no pid file; see " + dir.resolve("log"));
        }
        return Long.parseLong(read(pidFile).trim());
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "";
        }
    }

    private String run(String... cmd) {
        List<String> full = new ArrayList<>(List.of("timeout", "-k", "5", Long.toString(CLI_TIMEOUT.toSeconds())));
        full.addAll(List.of(cmd));
        return ExternalTools.run(CLI_TIMEOUT.plusSeconds(10), full.toArray(String[]::new)).ok().stdout();
    }

    /** Runs {@code ceph -c CONF ARGS...} with a timeout; its stdout. */
    public String ceph(String... args) {
        List<String> cmd = new ArrayList<>(List.of("ceph", "-c", conf.toString(), "--connect-timeout", "30"));
        cmd.addAll(List.of(args));
        return run(cmd.toArray(String[]::new));
    }

    /** Runs {@code rbd -c CONF ARGS...} with a timeout; its stdout. */
    public String rbd(String... args) {
        List<String> cmd = new ArrayList<>(List.of("rbd", "-c", conf.toString()));
        cmd.addAll(List.of(args));
        return run(cmd.toArray(String[]::new));
    }

    /** Creates {@code rbd/NAME} of {@code sizeBytes}. */
    public void createImage(String name, long sizeBytes) {
        rbd("create", "rbd/" + name, "--size", (sizeBytes >> 20) + "M");
    }

    /** The {@code rbd:} reference of image {@code name} in pool rbd on this cluster, with {@code timeout} seconds. */
    public String spec(String image, int timeoutSeconds) {
        return "rbd:rbd/" + image + "?conf=" + conf + "&timeout=" + timeoutSeconds;
    }

    /**
     * Freezes the OSD (SIGSTOP) and waits until the kernel says it is stopped: the cluster stops answering
     * I/O without losing its memstore data.
     */
    public void freezeOsd() throws Exception {
        ExternalTools.run(Duration.ofSeconds(10), "kill", "-STOP", Long.toString(osdPid)).ok();
        Path stat = Path.of("/proc/" + osdPid + "/stat");
        if (!Poll.until(() -> {
            String s = read(stat);
            int close = s.lastIndexOf(')');
            return close > 0 && s.length() > close + 2 && s.charAt(close + 2) == 'T';
        }, Duration.ofSeconds(10))) {
            fail("osd." + osdId + " (pid " + osdPid + ") did not stop: " + read(stat));
        }
    }

    /** Lets a frozen OSD run again (SIGCONT). */
    public void thawOsd() throws Exception {
        ExternalTools.run(Duration.ofSeconds(10), "kill", "-CONT", Long.toString(osdPid)).ok();
    }

    /** Stops the daemons by pid, OSD first, and waits for each to exit. */
    @Override
    public void close() {
        for (int i = pids.size() - 1; i >= 0; i--) {
            long pid = pids.get(i);
            ProcessHandle.of(pid).ifPresent(h -> {
                if (pid == osdPid) {
                    ExternalTools.run(Duration.ofSeconds(10), "kill", "-CONT", Long.toString(pid));
                }
                h.destroy();
                try {
                    h.onExit().get(15, java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception e) {
                    h.destroyForcibly();
                }
            });
        }
        pids.clear();
    }
}
