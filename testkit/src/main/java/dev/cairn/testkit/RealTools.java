package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/**
 * The one rule for a test that drives a real client or tool (qemu-io, nbdinfo, nbdcopy, mkfs.ext4...): when the
 * tool is missing the test <b>fails</b>, naming the Debian package to install. A developer without the tool can
 * set {@code CAIRN_SKIP_MISSING_TOOLS=1} to skip such tests instead, loudly (a line on stderr and a JUnit
 * assumption with the same text); under CI ({@code CI} set, as {@code .ci/run} runs) that setting is ignored
 * and the test fails, so a CI machine without the package can never pass by skipping.
 *
 * <p>Thread safety: stateless.
 */
public final class RealTools {
    private static final List<String> EXTRA_PATH = List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin");

    private RealTools() {}

    /** The absolute path of {@code binary}, or a failure (a loud skip, see above) naming {@code debianPackage}. */
    public static String require(String binary, String debianPackage) {
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        dirs.addAll(EXTRA_PATH);
        for (String d : dirs) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, binary))) {
                return Path.of(d, binary).toString();
            }
        }
        String message = binary + " is not installed: this test drives it. Install the Debian package "
                + debianPackage + " (apt-get install -y " + debianPackage + ")";
        if (skipAllowed()) {
            System.err.println("SKIPPED (CAIRN_SKIP_MISSING_TOOLS): " + message);
            Assumptions.abort(message);
        }
        return fail(message);
    }

    /** Whether a missing tool may skip instead of fail: only when asked for, and never under CI. */
    static boolean skipAllowed() {
        String ci = System.getenv("CI");
        boolean underCi = ci != null && !ci.isEmpty() && !ci.equalsIgnoreCase("false");
        return !underCi && "1".equals(System.getenv("CAIRN_SKIP_MISSING_TOOLS"));
    }
}
