package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import java.util.ArrayList;
import java.util.List;

/**
 * A test target {@code hold <dev> <offset>}: linear, but while {@link Control#hold} is set it keeps
 * the clones it maps (SUBMITTED) until the test releases them, and while {@link Control#requeueOnEnd}
 * is set its endIo asks for a requeue.
 */
final class HoldTargetType implements TargetType {
    /** Shared switches and the held clones. Thread-safe. */
    static final class Control {
        volatile boolean hold;
        volatile boolean requeueOnEnd;
        volatile boolean requeueOnMap;
        private final List<Bio> held = new ArrayList<>();

        synchronized int heldCount() {
            return held.size();
        }

        /** Sends every held clone down, in order. */
        void release() {
            List<Bio> out;
            synchronized (this) {
                out = new ArrayList<>(held);
                held.clear();
            }
            for (Bio b : out) {
                TargetIo.of(b).context().submitter().submit(b);
            }
        }

        synchronized void add(Bio b) {
            held.add(b);
        }
    }

    private final Control control;

    HoldTargetType(Control control) {
        this.control = control;
    }

    @Override
    public String name() {
        return "hold";
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        args.expectCount("<dev> <offset>", 2);
        String spec = args.nextDeviceSpec("dev");
        long offset = args.nextSector("offset");
        DeviceRef dev = args.openDevice("dev", spec);
        return new Target() {
            @Override
            public MapResult map(Bio clone) {
                if (control.requeueOnMap) {
                    return MapResult.REQUEUE;
                }
                clone.setDevice(dev.device()).setSector(offset + ctx.targetOffset(clone.sector()));
                if (control.hold) {
                    control.add(clone);
                    return MapResult.SUBMITTED;
                }
                return MapResult.REMAPPED;
            }

            @Override
            public EndIoResult endIo(Bio clone, BioStatus status) {
                return control.requeueOnEnd ? EndIoResult.REQUEUE : EndIoResult.done(status);
            }

            @Override
            public String statusTable() {
                return spec + " " + offset;
            }

            @Override
            public void iterateDevices(DeviceVisitor visitor) {
                visitor.visit(dev, offset, ctx.lengthSectors());
            }
        };
    }
}
