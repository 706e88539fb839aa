package dev.cairn.block;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * One block I/O (Linux {@code struct bio}): an operation, flags, a start sector, a length, the
 * data as a vector of {@link MemorySegment}s with an iterator into it, a status, and an end-io
 * callback that runs exactly once.
 *
 * <pre>
 *  segments:  [ seg0 ][ seg1 ][ seg2 ][ seg3 ]      shared by clones and splits, never copied
 *                 ^ segmentIndex=1, segmentOffsetBytes=k
 *                 |&lt;------ sizeBytes ------&gt;|      this bio's data: a window of the vector
 * </pre>
 *
 * A remap changes {@link #device()} and {@link #sector()}; {@link #advance}, {@link #trim},
 * {@link #split} and {@link #clone} move the window; none of them touches the data.
 *
 * <p><b>Completion.</b> A bio has a remaining count that starts at 1. {@link #chain} adds one to the
 * parent; {@link #complete} takes one off, and the call that takes it to zero runs the end-io
 * callback (for a chained child: passes its error to the parent, then completes the parent). A
 * completion past zero is a bug and throws {@link AssertionError}, whether or not assertions are on.
 * The first error wins: once a bio's status is not OK it never becomes OK again.
 *
 * <p><b>Ownership.</b> A pooled bio (from a {@link BioSet}) goes back to its set right after its end-io
 * callback returns; whoever holds it must not touch it after that. An unpooled bio ({@link #alloc()},
 * the analog of {@code bio_kmalloc}) is left to the garbage collector and is never punted to a rescuer.
 *
 * <p>Thread safety: a bio has one owner at a time (the layer that holds it) and is handed over by
 * submission and completion, which are happens-before edges; only the remaining count and the status
 * are touched concurrently (by completing children), through atomic operations.
 */
public final class Bio {
    private static final VarHandle REMAINING;
    private static final VarHandle STATUS;
    /** Marker end-io of a chained child: completion goes to {@link #parent}. */
    private static final BioEndIo CHAIN = bio -> {
        throw new AssertionError("chain end-io is never called");
    };

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            REMAINING = lookup.findVarHandle(Bio.class, "remaining", int.class);
            STATUS = lookup.findVarHandle(Bio.class, "status", BioStatus.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The set this bio returns to after end-io; null for an unpooled bio. */
    final BioSet pool;
    /** Intrusive link for {@link BioList}; a bio is on at most one list. */
    Bio next;
    /** Coarse tick (see {@link Submitter}) at which the bio was allocated from its pool, for the watchdog. */
    long allocTick;
    /** True while a pooled bio is out of its pool. */
    boolean inUse;

    private BlockDevice device;
    private BioOp op = BioOp.READ;
    private int flags;
    private long sector;
    private int sizeBytes;

    private MemorySegment[] segments;
    private MemorySegment[] singleSegment;
    private int segmentIndex;
    private long segmentOffsetBytes;

    private volatile int remaining = 1;
    private volatile BioStatus status = BioStatus.OK;
    private BioEndIo endIo;
    private Object privateData;
    private Bio parent;
    private SpliceSink spliceSink;

    Bio(BioSet pool) {
        this.pool = pool;
    }

    /** An unpooled bio (Linux {@code bio_kmalloc}): never punted to a rescuer, left to the GC. */
    public static Bio alloc() {
        return new Bio(null);
    }

    // ---------------------------------------------------------------- routing

    public BlockDevice device() {
        return device;
    }

    public Bio setDevice(BlockDevice device) {
        this.device = device;
        return this;
    }

    public BioOp op() {
        return op;
    }

    public Bio setOp(BioOp op) {
        this.op = Objects.requireNonNull(op, "op");
        return this;
    }

    public int flags() {
        return flags;
    }

    public boolean hasFlag(int flag) {
        return (flags & flag) != 0;
    }

    public Bio setFlags(int flags) {
        this.flags = BioFlags.validate(flags);
        return this;
    }

    public Bio addFlags(int flags) {
        this.flags |= BioFlags.validate(flags);
        return this;
    }

    public Bio clearFlags(int flags) {
        this.flags &= ~flags;
        return this;
    }

    /** First sector (512 bytes) of the I/O on {@link #device()}. */
    public long sector() {
        return sector;
    }

    public Bio setSector(long sector) {
        if (sector < 0) {
            throw new IllegalArgumentException("sector: " + sector + " (expected: >= 0)");
        }
        this.sector = sector;
        return this;
    }

    public int sizeBytes() {
        return sizeBytes;
    }

    /** Length in sectors (size rounded down; sizes are always whole sectors for I/O that reaches a device). */
    public int sectors() {
        return sizeBytes >>> Sectors.SECTOR_SHIFT;
    }

    /** One past the last sector. */
    public long endSector() {
        return sector + sectors();
    }

    /** Sets the length of a bio without data (DISCARD, WRITE_ZEROES, FLUSH). */
    public Bio setSizeBytes(int sizeBytes) {
        if (sizeBytes < 0) {
            throw new IllegalArgumentException("sizeBytes: " + sizeBytes + " (expected: >= 0)");
        }
        if (op.hasData() && segments != null && sizeBytes > dataCapacityBytes()) {
            throw new IllegalArgumentException("sizeBytes: " + sizeBytes + " (expected: <= data " + dataCapacityBytes() + ")");
        }
        this.sizeBytes = sizeBytes;
        return this;
    }

    // ---------------------------------------------------------------- data

    /**
     * Uses {@code segment} as this bio's whole data; the size becomes its length. No copy is made, so the
     * memory must stay alive and untouched until the bio completes, and must be usable from other threads
     * (heap, global, automatic or shared arena): a store may complete the bio on its own threads.
     */
    public Bio setData(MemorySegment segment) {
        if (singleSegment == null) {
            singleSegment = new MemorySegment[1];
        }
        singleSegment[0] = segment;
        return setData(singleSegment, 0, 0, checkedSize(segment.byteSize()));
    }

    /** Uses the vector {@code segments} (not copied, not to be changed while the bio lives) as data. */
    public Bio setData(MemorySegment... segments) {
        long total = 0;
        for (MemorySegment s : segments) {
            total += s.byteSize();
        }
        return setData(segments, 0, 0, checkedSize(total));
    }

    private Bio setData(MemorySegment[] vector, int index, long offsetBytes, int sizeBytes) {
        this.segments = vector;
        this.segmentIndex = index;
        this.segmentOffsetBytes = offsetBytes;
        this.sizeBytes = sizeBytes;
        return this;
    }

    private static int checkedSize(long bytes) {
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("data: " + bytes + " bytes (expected: <= " + Integer.MAX_VALUE + ")");
        }
        return (int) bytes;
    }

    /** True when the bio has data segments. */
    public boolean hasData() {
        return segments != null;
    }

    private long dataCapacityBytes() {
        long total = -segmentOffsetBytes;
        for (int i = segmentIndex; i < segments.length; i++) {
            total += segments[i].byteSize();
        }
        return total;
    }

    /** Receives the pieces of a bio's data, in order. */
    @FunctionalInterface
    public interface SegmentVisitor {
        void visit(MemorySegment segment, long segmentOffsetBytes, long lengthBytes, long bioOffsetBytes)
                throws IOException;
    }

    /** Visits every piece of this bio's data window, in order. */
    public void forEachSegment(SegmentVisitor visitor) throws IOException {
        forRange(0, sizeBytes, visitor);
    }

    /** Visits the pieces of {@code [bioOffsetBytes, bioOffsetBytes + lengthBytes)} of this bio's data. */
    public void forRange(long bioOffsetBytes, long lengthBytes, SegmentVisitor visitor) throws IOException {
        walk(VISIT, bioOffsetBytes, lengthBytes, null, 0, (byte) 0, visitor);
    }

    /** Copies {@code lengthBytes} of this bio's data, from {@code bioOffsetBytes}, into {@code dst}. */
    public void copyTo(long bioOffsetBytes, MemorySegment dst, long dstOffsetBytes, long lengthBytes) {
        walkInMemory(COPY_TO, bioOffsetBytes, lengthBytes, dst, dstOffsetBytes, (byte) 0);
    }

    /** Copies {@code lengthBytes} from {@code src} into this bio's data at {@code bioOffsetBytes}. */
    public void copyFrom(MemorySegment src, long srcOffsetBytes, long bioOffsetBytes, long lengthBytes) {
        walkInMemory(COPY_FROM, bioOffsetBytes, lengthBytes, src, srcOffsetBytes, (byte) 0);
    }

    /** Fills {@code lengthBytes} of this bio's data from {@code bioOffsetBytes} with {@code value}. */
    public void fill(long bioOffsetBytes, long lengthBytes, byte value) {
        walkInMemory(FILL, bioOffsetBytes, lengthBytes, null, 0, value);
    }

    private static final int COPY_TO = 0;
    private static final int COPY_FROM = 1;
    private static final int FILL = 2;
    private static final int VISIT = 3;

    private void walkInMemory(int operation, long bioOffsetBytes, long lengthBytes, MemorySegment other,
            long otherOffsetBytes, byte value) {
        try {
            walk(operation, bioOffsetBytes, lengthBytes, other, otherOffsetBytes, value, null);
        } catch (IOException e) {
            throw new AssertionError("only a visitor throws IOException", e);
        }
    }

    /**
     * The one walk over the data window, behind {@link #forRange}, {@link #copyTo}, {@link #copyFrom} and
     * {@link #fill}: a plain loop with an operation code, so the copies that stores do on their hot paths
     * allocate nothing.
     */
    private void walk(int operation, long bioOffsetBytes, long lengthBytes, MemorySegment other, long otherOffsetBytes,
            byte value, SegmentVisitor visitor) throws IOException {
        checkDataRange(bioOffsetBytes, lengthBytes);
        int index = segmentIndex;
        long offset = segmentOffsetBytes + bioOffsetBytes;
        while (offset >= segments[index].byteSize()) {
            offset -= segments[index].byteSize();
            index++;
        }
        long done = 0;
        while (done < lengthBytes) {
            MemorySegment s = segments[index];
            long n = Math.min(s.byteSize() - offset, lengthBytes - done);
            switch (operation) {
                case COPY_TO -> MemorySegment.copy(s, offset, other, otherOffsetBytes + done, n);
                case COPY_FROM -> MemorySegment.copy(other, otherOffsetBytes + done, s, offset, n);
                case FILL -> s.asSlice(offset, n).fill(value);
                default -> visitor.visit(s, offset, n, bioOffsetBytes + done);
            }
            done += n;
            offset = 0;
            index++;
        }
    }

    private void checkDataRange(long bioOffsetBytes, long lengthBytes) {
        if (segments == null) {
            throw new IllegalStateException("bio has no data: " + this);
        }
        if (bioOffsetBytes < 0 || lengthBytes < 0 || bioOffsetBytes + lengthBytes > sizeBytes) {
            throw new IndexOutOfBoundsException("range [" + bioOffsetBytes + ", +" + lengthBytes
                    + ") (expected: within the bio's " + sizeBytes + " bytes)");
        }
    }

    /**
     * Lets a READ be answered by reference to a file's page cache instead of a copy (see {@link SpliceSink});
     * null (the default) asks for the data in this bio's memory. Not copied by {@link #clone}: a stacking
     * layer passes it down only where its clone reads the same bytes (a remap). Copied by {@link #split}.
     */
    public Bio setSpliceSink(SpliceSink sink) {
        this.spliceSink = sink;
        return this;
    }

    /** The sink set by {@link #setSpliceSink}, or null. */
    public SpliceSink spliceSink() {
        return spliceSink;
    }

    // ---------------------------------------------------------------- iterator moves

    /** Drops the first {@code bytes} of the bio: the start sector and the data window move forward. */
    public Bio advance(int bytes) {
        if (bytes < 0 || bytes > sizeBytes || !Sectors.isAligned(bytes)) {
            throw new IllegalArgumentException("bytes: " + bytes + " (expected: a multiple of 512 in [0, " + sizeBytes + "])");
        }
        sector += bytes >>> Sectors.SECTOR_SHIFT;
        sizeBytes -= bytes;
        if (segments != null) {
            long offset = segmentOffsetBytes + bytes;
            while (segmentIndex < segments.length && offset >= segments[segmentIndex].byteSize() && offset > 0) {
                offset -= segments[segmentIndex].byteSize();
                segmentIndex++;
            }
            segmentOffsetBytes = offset;
        }
        return this;
    }

    /** Keeps only {@code sectors} sectors starting {@code offsetSectors} into the bio (Linux {@code bio_trim}). */
    public Bio trim(int offsetSectors, int sectors) {
        long end = (long) offsetSectors + sectors;
        if (offsetSectors < 0 || sectors < 0 || end > sectors()) {
            throw new IllegalArgumentException("trim: [" + offsetSectors + ", +" + sectors + ") (expected: within "
                    + sectors() + " sectors)");
        }
        advance(offsetSectors << Sectors.SECTOR_SHIFT);
        sizeBytes = sectors << Sectors.SECTOR_SHIFT;
        return this;
    }

    /**
     * A copy of this bio's description that shares its data (Linux {@code bio_alloc_clone}): same device,
     * operation, flags, range and data window; no end-io, no private data, no splice sink, not chained. Blocks when
     * {@code set} is empty (a blocking primitive); {@code set == null} gives an unpooled clone.
     * The clone borrows the original's data vector, so it must complete before the original does
     * (chain it, or complete the original from the clone's end-io, as stacking drivers do).
     */
    public Bio clone(BioSet set) {
        Bio c = set == null ? alloc() : set.alloc();
        c.device = device;
        c.op = op;
        c.flags = flags;
        c.sector = sector;
        c.sizeBytes = sizeBytes;
        c.segments = segments;
        c.segmentIndex = segmentIndex;
        c.segmentOffsetBytes = segmentOffsetBytes;
        return c;
    }

    /**
     * Splits off the first {@code sectors} sectors as a new bio from {@code set}, chained to this one
     * (Linux {@code bio_split} + {@code bio_chain}); this bio then describes the rest. The caller
     * submits both. This bio completes only after the front part has.
     */
    public Bio split(int sectors, BioSet set) {
        if (sectors <= 0 || sectors >= sectors()) {
            throw new IllegalArgumentException("sectors: " + sectors + " (expected: in (0, " + sectors() + "))");
        }
        Bio front = clone(set);
        front.spliceSink = spliceSink; // the same layer, the same data: only the window moves
        front.sizeBytes = sectors << Sectors.SECTOR_SHIFT;
        advance(sectors << Sectors.SECTOR_SHIFT);
        front.chain(this);
        return front;
    }

    /**
     * Makes {@code parent} wait for this bio (Linux {@code bio_chain}): the parent's remaining count
     * goes up by one; when this bio completes, its error (if any, and if the parent has none yet)
     * goes to the parent and the parent's count goes down by one.
     */
    public Bio chain(Bio parent) {
        if (endIo != null || this.parent != null) {
            throw new IllegalStateException("bio already has an end-io: " + this);
        }
        REMAINING.getAndAdd(parent, 1);
        this.parent = parent;
        this.endIo = CHAIN;
        return this;
    }

    // ---------------------------------------------------------------- completion

    public Bio setEndIo(BioEndIo endIo) {
        this.endIo = endIo;
        return this;
    }

    public BioEndIo endIo() {
        return endIo == CHAIN ? null : endIo;
    }

    /** Per-layer private data of whoever owns this bio now (Linux {@code bi_private}). */
    @SuppressWarnings("unchecked")
    public <T> T privateData() {
        return (T) privateData;
    }

    public Bio setPrivateData(Object privateData) {
        this.privateData = privateData;
        return this;
    }

    /** OK, or the first error this bio or one of its chained children ended with. */
    public BioStatus status() {
        return status;
    }

    /** Records {@code error} unless an error is already recorded (the first error wins). */
    public void setError(BioStatus error) {
        if (error != BioStatus.OK) {
            STATUS.compareAndSet(this, BioStatus.OK, error);
        }
    }

    /** Completes the bio successfully (unless a chained child failed). */
    public void complete() {
        complete(BioStatus.OK);
    }

    /**
     * Ends this bio with {@code result} (Linux {@code bio_endio}): records the error, if any, and drops one
     * from the remaining count; at zero, runs the end-io callback (or completes the chain parent) and
     * returns a pooled bio to its set.
     */
    public void complete(BioStatus result) {
        Bio bio = this;
        BioStatus s = result;
        while (true) {
            bio.setError(s);
            int before = (int) REMAINING.getAndAdd(bio, -1);
            if (before > 1) {
                return;
            }
            if (before < 1) {
                REMAINING.getAndAdd(bio, 1);
                throw new AssertionError("bio completed more often than it was submitted: " + bio);
            }
            BioEndIo cb = bio.endIo;
            if (cb == CHAIN) {
                Bio p = bio.parent;
                s = bio.status;
                bio.release();
                bio = p;
                continue;
            }
            if (cb != null) {
                cb.endIo(bio);
            }
            bio.release();
            return;
        }
    }

    /** Remaining count: 1 for a bio in flight with no chained children in flight. For tests and diagnostics. */
    public int remaining() {
        return remaining;
    }

    private void release() {
        if (pool != null) {
            pool.free(this);
        }
    }

    /** Clears every field so a pooled bio can be handed out again. */
    void reset() {
        device = null;
        op = BioOp.READ;
        flags = 0;
        sector = 0;
        sizeBytes = 0;
        segments = null;
        if (singleSegment != null) {
            singleSegment[0] = null;
        }
        segmentIndex = 0;
        segmentOffsetBytes = 0;
        endIo = null;
        privateData = null;
        parent = null;
        spliceSink = null;
        next = null;
        status = BioStatus.OK;
        remaining = 1;
    }

    /** Makes a freshly allocated pooled bio completable once. */
    void arm() {
        remaining = 1;
    }

    /** Marks a freed bio so that a late completion is caught: the count goes to 0. */
    void markFree() {
        remaining = 0;
    }

    @Override
    public String toString() {
        return "Bio[" + op + (flags == 0 ? "" : " " + BioFlags.toString(flags)) + " sector=" + sector
                + " size=" + sizeBytes + " dev=" + (device == null ? "-" : device.name())
                + (pool == null ? "" : " set=" + pool.name()) + (status == BioStatus.OK ? "" : " status=" + status) + "]";
    }
}
