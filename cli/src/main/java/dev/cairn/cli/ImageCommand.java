package dev.cairn.cli;

import dev.cairn.block.Sizes;
import dev.cairn.daemon.Images;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code cairn image create|info}: image files, handled locally (no daemon needed). */
@Command(name = "image", mixinStandardHelpOptions = true,
        description = "Create and inspect image files (raw disk images and snapshot COW images) and RBD images. Needs no daemon.",
        subcommands = {ImageCommand.Create.class, ImageCommand.Info.class, RbdImageCommands.Create.class,
            RbdImageCommands.Resize.class, RbdImageCommands.Ls.class})
final class ImageCommand extends LocalCommand {
    @Override
    int run() {
        spec.commandLine().usage(err());
        return 2;
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = {"Create a sparse image file of SIZE bytes (K, M, G, T suffixes).",
                "Example: cairn image create /var/tmp/disk.img 10G"})
    static final class Create extends LocalCommand {
        @Parameters(index = "0", paramLabel = "PATH", description = "The file to create (must not exist).")
        Path path;

        @Parameters(index = "1", paramLabel = "SIZE", description = "Size, e.g. 1G or 512M (a multiple of 512 bytes).")
        String size;

        @Override
        int run() throws Exception {
            long bytes = Sizes.parseBytes("SIZE", size);
            Images.createSparse(path, bytes);
            out().println("created " + path.toAbsolutePath() + " (" + bytes + " bytes, " + Sizes.human(bytes) + ", sparse)");
            out().println("use it in a table as file:" + path.toAbsolutePath());
            return 0;
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true,
            description = {"Show an image's size and allocated bytes.",
                "For a snapshot COW image also its header, chunk size and exception count."})
    static final class Info extends LocalCommand {
        @Parameters(index = "0", paramLabel = "PATH", description = "The image file.")
        Path path;

        @Mixin JsonOption json;

        @Override
        int run() throws Exception {
            Images.ImageInfo info = Images.info(path);
            if (json.json) {
                printJson(info);
                return 0;
            }
            PrintWriter out = out();
            long size = info.sizeBytes();
            long allocated = info.allocatedBytes();
            out.printf("path:        %s%n", info.path());
            out.printf("size:        %d bytes (%s)%n", size, Sizes.human(size));
            out.printf("allocated:   %s%n", allocated < 0 ? "unknown" : allocated + " bytes (" + Sizes.human(allocated) + ")");
            if (info.cow() != null) {
                Images.CowInfo cow = info.cow();
                long chunk = cow.chunkSectors();
                out.printf("format:      snapshot COW (Linux persistent exception store, magic SnAp, version %d)%n", cow.version());
                out.printf("valid:       %s%n", cow.valid() ? "yes" : "no (invalidated: overflow or error)");
                out.printf("chunk size:  %d sectors (%s)%n", chunk, Sizes.human(chunk * 512));
                if (cow.problem() != null) {
                    out.printf("problem:     %s%n", cow.problem());
                } else {
                    out.printf("exceptions:  %d%n", cow.exceptions());
                    out.printf("used:        %d of %d chunks%n", cow.usedChunks(), cow.chunks());
                }
            } else {
                out.printf("format:      raw%n");
            }
            out.flush();
            return 0;
        }
    }
}
