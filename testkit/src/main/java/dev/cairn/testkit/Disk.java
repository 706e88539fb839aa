package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;

/** Raw byte access to a device through bios, for tests. */
public final class Disk {
    private Disk() {}

    public static byte[] read(Submitter submitter, BlockDevice device, long sector, int bytes) {
        byte[] out = new byte[bytes];
        Bio bio = Bio.alloc().setDevice(device).setOp(BioOp.READ).setSector(sector).setData(MemorySegment.ofArray(out));
        assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
        return out;
    }

    public static void write(Submitter submitter, BlockDevice device, long sector, byte[] data) {
        Bio bio = Bio.alloc().setDevice(device).setOp(BioOp.WRITE).setSector(sector).setData(MemorySegment.ofArray(data));
        assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
    }

    public static byte[] readAll(Submitter submitter, BlockDevice device) {
        return read(submitter, device, 0, Math.toIntExact(Sectors.toBytes(device.capacitySectors())));
    }
}
