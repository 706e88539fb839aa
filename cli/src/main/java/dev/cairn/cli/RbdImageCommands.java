package dev.cairn.cli;

import dev.cairn.block.Sizes;
import dev.cairn.rbd.RbdImages;
import dev.cairn.rbd.RbdSpec;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code cairn image rbd-create|rbd-resize|rbd-ls}: RBD images through librbd, handled locally (no daemon),
 * named as in tables: {@code rbd:POOL/IMAGE[?conf=PATH&id=USER&timeout=SECONDS]}.
 */
final class RbdImageCommands {
    private RbdImageCommands() {}

    @Command(name = "rbd-create", mixinStandardHelpOptions = true,
            description = {"Create an RBD image of SIZE bytes (4 MiB objects, rbd create's default features).",
                "Example: cairn image rbd-create 'rbd:vms/vm1?conf=/etc/ceph/ceph.conf&id=cairn' 20G"})
    static final class Create extends LocalCommand {
        @Parameters(index = "0", paramLabel = "RBD", description = "rbd:POOL/IMAGE[?conf=PATH&id=USER&timeout=SECONDS]")
        String spec;

        @Parameters(index = "1", paramLabel = "SIZE", description = "Size, e.g. 1G or 512M.")
        String size;

        @Override
        int run() throws Exception {
            RbdSpec s = RbdSpec.parse(spec);
            long bytes = Sizes.parseBytes("SIZE", size);
            RbdImages.create(s, bytes);
            out().println("created rbd:" + s.imageSpec() + " (" + bytes + " bytes, " + Sizes.human(bytes) + ")");
            return 0;
        }
    }

    @Command(name = "rbd-resize", mixinStandardHelpOptions = true,
            description = {"Resize an RBD image (shrinking discards its end).",
                "Devices using it see the new size only after their table is reloaded."})
    static final class Resize extends LocalCommand {
        @Parameters(index = "0", paramLabel = "RBD", description = "rbd:POOL/IMAGE[?conf=PATH&id=USER&timeout=SECONDS]")
        String spec;

        @Parameters(index = "1", paramLabel = "SIZE", description = "New size, e.g. 40G.")
        String size;

        @Override
        int run() throws Exception {
            RbdSpec s = RbdSpec.parse(spec);
            long bytes = Sizes.parseBytes("SIZE", size);
            RbdImages.resize(s, bytes);
            out().println("resized rbd:" + s.imageSpec() + " to " + bytes + " bytes (" + Sizes.human(bytes) + ")");
            return 0;
        }
    }

    @Command(name = "rbd-ls", mixinStandardHelpOptions = true, description = "List the images of an RBD pool.")
    static final class Ls extends LocalCommand {
        @Parameters(index = "0", paramLabel = "RBD", description = "rbd:POOL[?conf=PATH&id=USER&timeout=SECONDS]")
        String spec;

        @Mixin JsonOption json;

        @Override
        int run() throws Exception {
            // A pool alone: parse it as POOL/x and keep the pool and connection parameters.
            int q = spec.indexOf('?');
            String head = q < 0 ? spec : spec.substring(0, q);
            String withImage = head + (head.contains("/") ? "" : "/x") + (q < 0 ? "" : spec.substring(q));
            RbdSpec s = RbdSpec.parse(withImage);
            List<String> names = RbdImages.list(s);
            if (json.json) {
                printJson(Map.of("pool", s.pool(), "images", names));
            } else {
                names.forEach(out()::println);
            }
            return 0;
        }
    }
}
