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
    /**
     * Shared switches and the held clones. Thread-safe: {@link #hold} is read under the lock that guards the
     * held list, so once a test clears it, every clone mapped while it was set is in the list that
     * {@link #release} drains (checking it outside the lock let a map add its clone after the release).
     */
    static final class Control {
        /** Guarded by this. */
        boolean hold;
        volatile boolean requeueOnEnd;
        volatile boolean requeueOnMap;
        /** Maps answered with a requeue so far. */
        final java.util.concurrent.atomic.AtomicInteger requeuesFromMap = new java.util.concurrent.atomic.AtomicInteger();
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

        synchronized void hold(boolean value) {
            hold = value;
        }

        /** Keeps {@code b} if holding is on; returns whether it did. */
        synchronized boolean holdIfOn(Bio b) {
            if (hold) {
                held.add(b);
            }
            return hold;
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
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
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
                    control.requeuesFromMap.incrementAndGet();
                    return MapResult.REQUEUE;
                }
                clone.setDevice(dev.device()).setSector(offset + ctx.targetOffset(clone.sector()));
                if (control.holdIfOn(clone)) {
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
