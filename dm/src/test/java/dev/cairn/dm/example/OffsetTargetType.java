package dev.cairn.dm.example;

import dev.cairn.block.Bio;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;
import java.util.concurrent.atomic.LongAdder;

/** The example of docs/dm.md: {@code offset <dev> <offset>}, a linear target that counts its bios. */
public final class OffsetTargetType implements TargetType {
    @Override
    public String name() {
        return "offset";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        args.expectCount("<dev> <offset>", 2);
        String spec = args.nextDeviceSpec("dev");
        long offset = args.nextSector("offset");
        DeviceRef dev = args.openDevice("dev", spec); // validated first, opened last
        return new OffsetTarget(ctx, dev, offset);
    }

    private static final class OffsetTarget implements Target {
        private final TargetContext ctx;
        private final DeviceRef dev;
        private final long offset;
        private final LongAdder bios = new LongAdder();

        OffsetTarget(TargetContext ctx, DeviceRef dev, long offset) {
            this.ctx = ctx;
            this.dev = dev;
            this.offset = offset;
        }

        @Override
        public MapResult map(Bio clone) {
            bios.increment();
            clone.setDevice(dev.device()).setSector(offset + ctx.targetOffset(clone.sector()));
            return MapResult.REMAPPED; // dm core submits the clone
        }

        @Override
        public String statusInfo() {
            return Long.toString(bios.sum());
        }

        @Override
        public String statusTable() {
            return dev.spec() + " " + offset;
        }

        @Override
        public String message(String... args) throws DmException {
            if (args.length == 1 && args[0].equals("reset")) {
                bios.reset();
                return "";
            }
            throw new DmException("message: " + String.join(" ", args) + " (expected: reset)");
        }

        @Override
        public void iterateDevices(DeviceVisitor visitor) {
            visitor.visit(dev, offset, ctx.lengthSectors());
        }
    }
}
