package dev.cairn.rbd;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A parsed {@code rbd:POOL/IMAGE[@SNAP][?conf=PATH&id=USER&timeout=SECONDS]} reference.
 *
 * @param pool      the RADOS pool
 * @param image     the image name
 * @param snapshot  a snapshot name (the device is then read-only), or null
 * @param conf      a ceph.conf path, or null for librados's default search ({@code /etc/ceph/ceph.conf}...)
 * @param user      the client id without {@code client.} ({@code admin} by default)
 * @param ioTimeout how long an OSD or monitor operation may take before it fails with ETIMEDOUT
 *                  ({@code rados_osd_op_timeout}, {@code rados_mon_op_timeout}); zero waits forever
 */
public record RbdSpec(String pool, String image, String snapshot, Path conf, String user, Duration ioTimeout) {
    public static final String PREFIX = "rbd:";
    public static final Duration DEFAULT_IO_TIMEOUT = Duration.ofSeconds(30);

    public RbdSpec {
        Objects.requireNonNull(pool, "pool");
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(ioTimeout, "ioTimeout");
    }

    public static RbdSpec parse(String spec) {
        if (!spec.startsWith(PREFIX)) {
            throw bad(spec, "rbd:POOL/IMAGE[@SNAP][?conf=PATH&id=USER&timeout=SECONDS]");
        }
        String rest = spec.substring(PREFIX.length());
        String query = "";
        int q = rest.indexOf('?');
        if (q >= 0) {
            query = rest.substring(q + 1);
            rest = rest.substring(0, q);
        }
        int slash = rest.indexOf('/');
        if (slash <= 0 || slash == rest.length() - 1) {
            throw bad(spec, "rbd:POOL/IMAGE[@SNAP] with a pool and an image");
        }
        String pool = rest.substring(0, slash);
        String image = rest.substring(slash + 1);
        String snap = null;
        int at = image.indexOf('@');
        if (at >= 0) {
            snap = image.substring(at + 1);
            image = image.substring(0, at);
            if (snap.isEmpty() || image.isEmpty()) {
                throw bad(spec, "rbd:POOL/IMAGE@SNAP with an image and a snapshot name");
            }
        }
        if (image.indexOf('/') >= 0) {
            throw bad(spec, "rbd:POOL/IMAGE (namespaces are not supported)");
        }
        Map<String, String> params = new LinkedHashMap<>();
        if (!query.isEmpty()) {
            for (String kv : query.split("&")) {
                int eq = kv.indexOf('=');
                if (eq <= 0 || eq == kv.length() - 1) {
                    throw bad(spec, "query parameters as NAME=VALUE");
                }
                params.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        String conf = params.remove("conf");
        String id = params.remove("id");
        String timeout = params.remove("timeout");
        if (!params.isEmpty()) {
            throw bad(spec, "only the parameters conf, id and timeout; not " + params.keySet());
        }
        Duration ioTimeout = DEFAULT_IO_TIMEOUT;
        if (timeout != null) {
            try {
                long s = Long.parseLong(timeout);
                if (s < 0 || s > 86400) {
                    throw new NumberFormatException();
                }
                ioTimeout = Duration.ofSeconds(s);
            } catch (NumberFormatException e) {
                throw bad(spec, "timeout=SECONDS from 0 to 86400");
            }
        }
        if (id != null && id.startsWith("client.")) {
            id = id.substring("client.".length());
        }
        return new RbdSpec(pool, image, snap, conf == null ? null : Path.of(conf), id == null ? "admin" : id, ioTimeout);
    }

    /** What identifies one cluster connection: the same config, user and timeout share a handle. */
    String clusterKey() {
        return (conf == null ? "" : conf.toAbsolutePath().normalize()) + "|" + user + "|" + ioTimeout.toSeconds();
    }

    /** {@code POOL/IMAGE[@SNAP]}. */
    public String imageSpec() {
        return pool + "/" + image + (snapshot == null ? "" : "@" + snapshot);
    }

    private static IllegalArgumentException bad(String spec, String expected) {
        return new IllegalArgumentException(spec + " (expected: " + expected + ")");
    }
}
