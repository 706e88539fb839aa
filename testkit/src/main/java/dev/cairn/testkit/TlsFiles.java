package dev.cairn.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;

/**
 * Certificates and keys made for a test with GnuTLS's own tools (certtool, psktool from gnutls-bin), the way
 * a user makes them for nbdkit or qemu: a CA, a server certificate for localhost/127.0.0.1, a client certificate,
 * a second unrelated CA, an expired server certificate, and a psktool key file. A missing tool fails the test.
 *
 * <p>Layout: {@code pki/} (nbdkit's server layout plus the client files: what nbdkit and libnbd read),
 * {@code qemu-client/} (ca-cert.pem, client-cert.pem, client-key.pem), {@code other-ca/} (a CA that signed
 * nothing here), {@code other-server/} (server files for localhost/127.0.0.1 signed by that other CA, with it
 * as {@code ca-cert.pem}: what a certificate swap installs), {@code expired/} (server files with a certificate
 * that expired in 2020), {@code keys/keys.psk} (user alice), {@code wrong-keys/keys.psk} (alice with another key), and {@code revoked/} / {@code unrevoked/}
 * (server files with a CRL that does or does not revoke the client certificate).
 */
public final class TlsFiles {
    private static final Duration T = Duration.ofSeconds(120);
    public final Path root;
    public final Path pki;
    public final Path qemuClient;
    public final Path otherCa;
    /** Server files (and {@code ca-cert.pem}) of a server certificate signed by {@link #otherCa}'s CA. */
    public final Path otherServer;
    public final Path expired;
    public final Path pskDir;
    public final Path psk;
    public final Path wrongPskDir;
    /** Server files of {@link #pki} plus {@code ca-crl.pem}, a CRL of the CA that revokes {@code pki/client-cert.pem}. */
    public final Path revoked;
    /** Server files of {@link #pki} plus a CRL of the CA that revokes nothing. */
    public final Path unrevoked;

    private TlsFiles(Path root) {
        this.root = root;
        this.pki = root.resolve("pki");
        this.qemuClient = root.resolve("qemu-client");
        this.otherCa = root.resolve("other-ca");
        this.otherServer = root.resolve("other-server");
        this.expired = root.resolve("expired");
        this.pskDir = root.resolve("keys");
        this.psk = pskDir.resolve("keys.psk");
        this.wrongPskDir = root.resolve("wrong-keys");
        this.revoked = root.resolve("revoked");
        this.unrevoked = root.resolve("unrevoked");
    }

    /** Makes everything under {@code root}; fails (never skips) when certtool or psktool is missing. */
    public static TlsFiles create(Path root) {
        TlsFiles f = new TlsFiles(root);
        try {
            f.make();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return f;
    }

    private void make() throws IOException {
        String certtool = require("certtool");
        String psktool = require("psktool");
        for (Path d : new Path[] {pki, qemuClient, otherCa, otherServer, expired, pskDir, wrongPskDir, revoked, unrevoked}) {
            Files.createDirectories(d);
        }
        Path tmpl = root.resolve("templates");
        Files.createDirectories(tmpl);
        Files.writeString(tmpl.resolve("ca.info"), "cn = Cairn Test CA\nca\ncert_signing_key\nexpiration_days = 3650\n");
        Files.writeString(tmpl.resolve("other-ca.info"), "cn = Someone Else's CA\nca\ncert_signing_key\nexpiration_days = 3650\n");
        String server = "organization = Cairn\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\n"
                + "tls_www_server\nencryption_key\nsigning_key\n";
        Files.writeString(tmpl.resolve("server.info"), server + "expiration_days = 3650\n");
        Files.writeString(tmpl.resolve("expired.info"), server
                + "activation_date = \"2019-01-01 00:00:00 UTC\"\nexpiration_date = \"2020-01-01 00:00:00 UTC\"\n");
        Files.writeString(tmpl.resolve("client.info"), "organization = Cairn\ncn = client.test\ntls_www_client\n"
                + "encryption_key\nsigning_key\nexpiration_days = 3650\n");

        key(certtool, root.resolve("ca-key.pem"));
        run(certtool, "--generate-self-signed", "--load-privkey", root.resolve("ca-key.pem").toString(),
                "--template", tmpl.resolve("ca.info").toString(), "--outfile", pki.resolve("ca-cert.pem").toString());
        key(certtool, pki.resolve("server-key.pem"));
        sign(certtool, pki.resolve("server-key.pem"), tmpl.resolve("server.info"), pki.resolve("server-cert.pem"));
        key(certtool, pki.resolve("client-key.pem"));
        sign(certtool, pki.resolve("client-key.pem"), tmpl.resolve("client.info"), pki.resolve("client-cert.pem"));

        for (String f : new String[] {"ca-cert.pem", "client-cert.pem", "client-key.pem"}) {
            Files.copy(pki.resolve(f), qemuClient.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }

        key(certtool, root.resolve("other-ca-key.pem"));
        run(certtool, "--generate-self-signed", "--load-privkey", root.resolve("other-ca-key.pem").toString(),
                "--template", tmpl.resolve("other-ca.info").toString(), "--outfile",
                otherCa.resolve("ca-cert.pem").toString());
        Files.copy(otherCa.resolve("ca-cert.pem"), otherServer.resolve("ca-cert.pem"));
        key(certtool, otherServer.resolve("server-key.pem"));
        run(certtool, "--generate-certificate", "--load-ca-certificate", otherCa.resolve("ca-cert.pem").toString(),
                "--load-ca-privkey", root.resolve("other-ca-key.pem").toString(), "--load-privkey",
                otherServer.resolve("server-key.pem").toString(), "--template", tmpl.resolve("server.info").toString(),
                "--outfile", otherServer.resolve("server-cert.pem").toString());

        Files.copy(pki.resolve("ca-cert.pem"), expired.resolve("ca-cert.pem"));
        key(certtool, expired.resolve("server-key.pem"));
        sign(certtool, expired.resolve("server-key.pem"), tmpl.resolve("expired.info"), expired.resolve("server-cert.pem"));

        Files.writeString(tmpl.resolve("crl.info"), "crl_next_update = 3650\ncrl_number = 1\n");
        for (Path d : new Path[] {revoked, unrevoked}) {
            for (String f : new String[] {"ca-cert.pem", "server-cert.pem", "server-key.pem"}) {
                Files.copy(pki.resolve(f), d.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        run(certtool, "--generate-crl", "--load-ca-privkey", root.resolve("ca-key.pem").toString(),
                "--load-ca-certificate", pki.resolve("ca-cert.pem").toString(), "--load-certificate",
                pki.resolve("client-cert.pem").toString(), "--template", tmpl.resolve("crl.info").toString(),
                "--outfile", revoked.resolve("ca-crl.pem").toString());
        run(certtool, "--generate-crl", "--load-ca-privkey", root.resolve("ca-key.pem").toString(),
                "--load-ca-certificate", pki.resolve("ca-cert.pem").toString(), "--template",
                tmpl.resolve("crl.info").toString(), "--outfile", unrevoked.resolve("ca-crl.pem").toString());
        run(psktool, "-u", "alice", "-p", psk.toString());
        run(psktool, "-u", "alice", "-p", wrongPskDir.resolve("keys.psk").toString());
    }

    private static String require(String binary) {
        for (String d : new String[] {"/usr/bin", "/bin", "/usr/local/bin"}) {
            if (Files.isExecutable(Path.of(d, binary))) {
                return Path.of(d, binary).toString();
            }
        }
        throw new AssertionError(binary + " is not installed: TLS tests need it. Install the Debian package gnutls-bin"
                + " (apt-get install -y gnutls-bin)");
    }

    /** Runs a tool to completion; a failure or a timeout fails the test with its output. */
    private static void run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(
                    new java.io.File("/dev/null"))).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (!p.waitFor(T.toSeconds(), java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " failed:\n" + out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static void key(String certtool, Path out) {
        run(certtool, "--generate-privkey", "--outfile", out.toString());
    }

    private void sign(String certtool, Path key, Path template, Path out) {
        run(certtool, "--generate-certificate", "--load-ca-certificate", pki.resolve("ca-cert.pem").toString(),
                "--load-ca-privkey", root.resolve("ca-key.pem").toString(), "--load-privkey", key.toString(),
                "--template", template.toString(), "--outfile", out.toString());
    }
}
