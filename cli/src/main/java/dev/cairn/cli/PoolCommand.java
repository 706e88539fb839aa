package dev.cairn.cli;

import dev.cairn.block.Sizes;
import dev.cairn.daemon.proto.ThinProto;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cairn pool create}: a thin pool, as {@code lvcreate --thinpool}. */
@Command(name = "pool", mixinStandardHelpOptions = true,
        description = {"Thin pools: data shared by thin volumes and their snapshots (LVM thin, dm-thin).",
            "Make volumes in a pool with 'cairn thin create', snapshots with 'cairn snapshot create',",
            "remove a pool (once it has no volumes) with 'cairn remove POOL'; 'cairn ls' shows Data% and Meta%."},
        subcommands = {PoolCommand.Create.class})
final class PoolCommand extends ClientCommand {
    @Override
    int run() {
        spec.commandLine().usage(err());
        return 2;
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = {"Create a thin pool POOL, as lvcreate --thinpool does.",
                "It is a thin-pool device on a metadata file and a data file, both sparse, under the state",
                "directory unless --data/--metadata name them.",
                "Without --metadata-size the metadata gets the kernel's rule of thumb: 48 bytes per data block,",
                "at least 2 MiB. The pool is not exported; its thin volumes are.", "",
                "Examples:",
                "  cairn pool create pool0 --size 10G",
                "  cairn pool create pool1 --size 100G --block-size 256K --metadata-size 64M",
                "  cairn pool create pool2 --size 1G --data /srv/pool2.data --metadata /srv/pool2.meta"})
    static final class Create extends ClientCommand {
        @Parameters(index = "0", paramLabel = "POOL", description = "The pool's name (a new device).")
        String name;

        @Option(names = {"--size", "-L"}, required = true, paramLabel = "SIZE",
                description = "Data space (K, M, G, T suffixes), rounded down to whole blocks.")
        String size;

        @Option(names = "--metadata-size", paramLabel = "SIZE", description = "Metadata file size, 2M to 15.9G (default: see above).")
        String metadataSize;

        @Option(names = {"--block-size", "--chunksize", "-c"}, paramLabel = "SIZE", defaultValue = "64K",
                description = "Allocation unit, a multiple of 64K up to 1G (default: ${DEFAULT-VALUE}).")
        String blockSize;

        @Option(names = "--data", paramLabel = "FILE", description = "The data file (created if missing).")
        Path data;

        @Option(names = "--metadata", paramLabel = "FILE", description = "The metadata file (created if missing; if it exists, all zeros).")
        Path metadata;

        @Mixin JsonOption json;

        @Override
        int run() {
            long bytes = Sizes.parseBytes("--size", size);
            Long metaBytes = metadataSize == null ? null : Sizes.parseBytes("--metadata-size", metadataSize);
            long blockBytes = Sizes.parseBytes("--block-size", blockSize);
            ThinProto.Pool p = call(ThinProto.POOL_CREATE, new ThinProto.PoolCreate(name, bytes, metaBytes, blockBytes,
                    data == null ? null : data.toAbsolutePath().normalize().toString(),
                    metadata == null ? null : metadata.toAbsolutePath().normalize().toString()));
            if (json.json) {
                printJson(p);
                return 0;
            }
            long totalDataBlocks = p.totalDataBlocks() == null ? 0 : p.totalDataBlocks();
            out().printf("pool %s created: %s of data in %s blocks (%s), metadata %s%n", name,
                    Sizes.human(totalDataBlocks * p.blockSectors() * 512), Sizes.human(p.blockSectors() * 512), p.dataFile(),
                    p.metadataFile());
            out().flush();
            return 0;
        }
    }
}
