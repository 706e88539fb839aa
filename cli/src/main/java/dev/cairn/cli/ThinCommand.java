package dev.cairn.cli;

import dev.cairn.block.Sizes;
import dev.cairn.daemon.proto.ThinProto;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cairn thin create}: a thin volume in a pool, as {@code lvcreate -V}. */
@Command(name = "thin", mixinStandardHelpOptions = true,
        description = {"Thin volumes: virtual devices whose blocks a pool provides on first write (LVM thin).",
            "Snapshot one with 'cairn snapshot create VOLUME SNAP', remove one with 'cairn remove VOLUME'."},
        subcommands = {ThinCommand.Create.class})
final class ThinCommand extends ClientCommand {
    @Override
    int run() {
        spec.commandLine().usage(err());
        return 2;
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = {"Create a thin volume NAME in POOL, as lvcreate -V SIZE --thinpool POOL does.",
                "It is exported over NBD under its name unless --no-export. With --origin, blocks not yet written read from that device",
                "(an external origin, as lvcreate --type thin --external-origin): clone a golden image without copying",
                "it. The origin must not change afterwards; cairn never writes it.", "",
                "Examples:",
                "  cairn thin create pool0 vol1 --virtual-size 20G",
                "  cairn thin create pool0 clone1 --virtual-size 10G --origin golden"})
    static final class Create extends ClientCommand {
        @Parameters(index = "0", paramLabel = "POOL", description = "The pool (cairn pool create).")
        String pool;

        @Parameters(index = "1", paramLabel = "NAME", description = "The new volume's name.")
        String name;

        @Option(names = "--virtual-size", required = true, paramLabel = "SIZE",
                description = "The volume's size (K, M, G, T suffixes); it may exceed the pool's data.")
        String size;

        @Option(names = "--origin", paramLabel = "DEVICE", description = "An external, read-only origin device.")
        String origin;

        @Option(names = "--no-export", description = "Do not export the volume over NBD.")
        boolean noExport;

        @Mixin JsonOption json;

        @Override
        int run() {
            long bytes = Sizes.parseBytes("--virtual-size", size);
            ThinProto.Volume v = call(ThinProto.THIN_CREATE, new ThinProto.ThinCreate(pool, name, bytes, origin, noExport));
            if (json.json) {
                printJson(v);
                return 0;
            }
            out().printf("thin volume %s created in pool %s (%s, device id %d%s)%n", name, pool, Sizes.human(v.sectors() * 512),
                    v.deviceId(), origin == null ? "" : ", external origin " + origin);
            out().flush();
            return 0;
        }
    }
}
