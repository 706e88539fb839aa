package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import java.util.List;
import java.util.function.Consumer;

/**
 * A test target: {@code probe <dev> <offset> <max_io_sectors> <flush_legs>}, linear-like, that logs each
 * map call and fails the test (through the log) if dm core hands it a piece crossing its max-io boundary.
 */
final class ProbeTargetType implements TargetType {
    private final Consumer<String> log;

    ProbeTargetType(Consumer<String> log) {
        this.log = log;
    }

    @Override
    public String name() {
        return "probe";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        args.expectCount("<dev> <offset> <max_io> <flush_legs>", 4);
        String spec = args.nextDeviceSpec("dev");
        long offset = args.nextSector("offset");
        long maxIo = args.nextLong("max_io", 0, 1 << 20);
        int legs = args.nextInt("flush_legs", 0, 8);
        DeviceRef dev = args.openDevice("dev", spec);
        return new Target() {
            @Override
            public MapResult map(Bio clone) {
                TargetIo tio = TargetIo.of(clone);
                long off = ctx.targetOffset(clone.sector());
                if (clone.op() != BioOp.FLUSH) {
                    if (off < 0 || off + clone.sectors() > ctx.lengthSectors()) {
                        log.accept("VIOLATION outside target " + off + "+" + clone.sectors());
                    }
                    if (maxIo > 0 && off / maxIo != (off + clone.sectors() - 1) / maxIo) {
                        log.accept("VIOLATION crosses max_io " + off + "+" + clone.sectors());
                    }
                }
                log.accept("map " + ctx.deviceName() + " " + clone.op() + " " + clone.sector() + "+" + clone.sectors()
                        + " leg " + tio.leg());
                clone.setDevice(dev.device()).setSector(offset + off);
                return MapResult.REMAPPED;
            }

            @Override
            public long maxIoSectors() {
                return maxIo;
            }

            @Override
            public int numFlushBios() {
                return legs;
            }

            @Override
            public String statusTable() {
                return String.join(" ", List.of(spec, "" + offset, "" + maxIo, "" + legs));
            }

            @Override
            public void iterateDevices(DeviceVisitor visitor) {
                visitor.visit(dev, offset, ctx.lengthSectors());
            }
        };
    }
}
