package dev.cairn.nbd.server;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A minimal file-backed device for {@link NbdServeMain} (benchmarks and tests only; the real
 * {@code FileStore} lives in the block module). Positional I/O on the submitting thread, FLUSH =
 * {@code force}, FUA emulated by the server with a flush; no discard or write-zeroes (the server writes
 * zeros instead).
 *
 * <p>Thread safety: positional {@link FileChannel} I/O is safe from many threads.
 */
final class FileDevice implements BlockDevice, AutoCloseable {
    private final String name;
    private final FileChannel channel;
    private final long capacitySectors;
    private final QueueLimits limits = new QueueLimits(512, 4096, 0, 0, 0, 0, true, false, false);

    FileDevice(String name, Path path, long sizeBytes) {
        this.name = name;
        try {
            this.channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.CREATE);
            if (channel.size() < sizeBytes) {
                channel.write(ByteBuffer.allocate(1), sizeBytes - 1);
            }
            this.capacitySectors = Sectors.fromBytes(sizeBytes);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long capacitySectors() {
        return capacitySectors;
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    @Override
    public void submitBio(Bio bio) {
        long base = Sectors.toBytes(bio.sector());
        try {
            switch (bio.op()) {
                case READ -> bio.forEachSegment((seg, segOff, len, bioOff) -> {
                    ByteBuffer b = seg.asSlice(segOff, len).asByteBuffer();
                    while (b.hasRemaining()) {
                        if (channel.read(b, base + bioOff + b.position()) < 0) {
                            while (b.hasRemaining()) {
                                b.put((byte) 0);
                            }
                        }
                    }
                });
                case WRITE -> {
                    bio.forEachSegment((seg, segOff, len, bioOff) -> {
                        ByteBuffer b = seg.asSlice(segOff, len).asByteBuffer();
                        while (b.hasRemaining()) {
                            channel.write(b, base + bioOff + b.position());
                        }
                    });
                    if (bio.hasFlag(BioFlags.FUA)) {
                        channel.force(false);
                    }
                }
                case FLUSH -> channel.force(false);
                default -> {
                    bio.complete(BioStatus.NOTSUPP);
                    return;
                }
            }
        } catch (IOException e) {
            bio.complete(BioStatus.IOERR);
            return;
        }
        bio.complete(BioStatus.OK);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
