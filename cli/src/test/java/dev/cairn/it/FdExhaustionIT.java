package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 22 item 2: with the daemon out of file descriptors (prlimit), idle NBD and control
 * connections pile up; both accept loops keep going with a pause and a rate-limited log line, and
 * once the connections close the control socket and NBD answer again. Before, the control accept
 * loop ended for good after one failure and the NBD one logged 2.1 million lines in 10 s.
 */
class FdExhaustionIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;
    private final List<java.io.Closeable> open = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (java.io.Closeable ch : open) {
            ch.close();
        }
        if (cairn != null) {
            cairn.close();
        }
    }

    private static long count(String text, String needle) {
        long n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    @Test
    void bothAcceptLoopsSurviveRunningOutOfFileDescriptors() throws Exception {
        Tools.require("prlimit");
        Tools.require("nbdinfo");
        Path logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        Path state = tmp.resolve("state");
        int port = CairnProcesses.freePort();
        CairnProcesses.Daemon daemon = cairn.serveWrapped(List.of("prlimit", "--nofile=320:320"), state, "--nbd-port",
                Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
        long start = System.nanoTime();

        // Idle NBD clients until the daemon cannot accept any more (the kernel still completes the
        // handshakes of its listen backlog), then idle control clients on top.
        for (int i = 0; i < 700 && !daemon.stderr().contains("accept failed"); i++) {
            java.net.Socket sock = new java.net.Socket();
            try {
                sock.connect(new InetSocketAddress("127.0.0.1", port), 2000);
                open.add(sock);
            } catch (java.io.IOException e) {
                sock.close(); // the listen backlog is full for now: the daemon is slow to accept, or cannot
            }
        }
        Path control = state.resolve("control.sock");
        for (int i = 0; i < 100; i++) {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.configureBlocking(false);
            try {
                ch.connect(UnixDomainSocketAddress.of(control));
            } catch (java.io.IOException e) {
                ch.close();
                continue; // backlog full
            }
            open.add(ch);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!daemon.stderr().contains("accept failed")) {
            assertThat(System.nanoTime()).as("the daemon never ran out of descriptors\n" + daemon.log()).isLessThan(deadline);
            Thread.sleep(100);
        }

        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!daemon.stderr().contains("control socket accept failed")) {
            assertThat(System.nanoTime()).as("the control socket never failed to accept\n" + daemon.log()).isLessThan(deadline);
            Thread.sleep(100);
        }
        for (java.io.Closeable ch : open) {
            ch.close();
        }
        open.clear();
        // Both sockets answer again.
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (cairn.cli("ls", "--state-dir", state.toString()).exit() != 0) {
            assertThat(System.nanoTime()).as("the control socket did not come back\n" + daemon.log()).isLessThan(deadline);
            Thread.sleep(200);
        }
        CairnProcesses.Result info = Tools.run(logs, "nbdinfo", "nbd://127.0.0.1:" + port + "/vol0");
        assertThat(info.exit()).as(info.out()).isZero();

        // At most one line per 10 s per socket (plus the first of each).
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        String err = daemon.stderr();
        assertThat(count(err, "accept failed")).as(err).isLessThanOrEqualTo(2 * (seconds / 10 + 1));
        assertThat(daemon.process.isAlive()).isTrue();
        assertThat(daemon.stop()).isZero();
    }
}
