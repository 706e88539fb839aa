package dev.cairn.dm.copy;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioSet;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoAbortedException;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Copies ranges between block devices in the background (Linux {@code dm-kcopyd}): one worker
 * thread per engine issues the reads and writes, and runs every completion callback.
 *
 * <h2>Implementation notes</h2>
 * <b>One thread does everything.</b> A bio's end-io (which may run on any thread, often inline on
 * the thread that submitted it) only queues an event; the worker then issues the next I/O or runs
 * the user's callback. So callbacks never run inside somebody else's submission and may block, as
 * kcopyd's do: dm-snapshot's commit does synchronous metadata I/O and its {@code pendingComplete}
 * takes the snapshot lock from there.
 *
 * <p><b>Bounded.</b> At most {@code maxJobsInFlight} jobs have I/O outstanding; further jobs wait
 * in a FIFO (the caller never blocks, like {@code dm_kcopyd_copy}). A job is cut into pieces of
 * at most {@code bufferSectors} sectors (at most {@link #SUB_JOB_SECTORS}, kcopyd's
 * {@code SUB_JOB_SIZE}), each read into the job's buffer and then written, so the memory held is
 * {@code maxJobsInFlight} buffers of that size.
 * Bios come from the engine's own {@link BioSet}; the worker allocates them while it is not inside
 * any submission, so an empty set only waits for one of its own bios to come back.
 *
 * <p><b>Buffers</b> come from a {@link ChunkBufferPool} of {@code maxJobsInFlight} native buffers
 * (no heap array per copy, no bounce copy in a file store). A copy job takes one when it starts,
 * which is only while fewer than {@code maxJobsInFlight} jobs are active, so the pool is never
 * empty there and the worker never waits for a buffer (see the pool's comment for why it must
 * not). The buffer is reference-counted: one reference for the worker while the job is active, one
 * per bio in flight on it. It goes back when the last is dropped: normally in {@code finish} (every
 * bio has ended), and, if the worker stops with jobs active (the submitter shut down), from the
 * end-io of the job's last bio, so that no buffer is reused or freed under a live I/O and none is
 * returned twice. The worker closes the pool as it stops (after {@link #close}, or a shutdown);
 * the arena is freed when the last buffer comes back.
 *
 * <p><b>Waiting for work</b> goes through {@link IoCompletion}, like every wait in Cairn's I/O
 * path: an idle worker arms a fresh completion, looks at the queue once more, and waits at most
 * {@link #IDLE_WAIT} (so an idle worker, which is not hung I/O, never shows up in watchdog
 * reports); {@link #post} completes the armed one.
 *
 * <p>Thread safety: {@link #copy}, {@link #zero} and {@link #post} may be called from any thread;
 * job state is confined to the worker.
 */
public final class CopyEngine implements AutoCloseable {
    /** kcopyd's {@code SUB_JOB_SIZE}: 64 KiB per read/write pair. */
    public static final int SUB_JOB_SECTORS = 128;

    private static final System.Logger LOG = System.getLogger(CopyEngine.class.getName());
    /** The source of zeroing writes: native (no bounce copy in a file store), read-only by use, never freed. */
    private static final MemorySegment ZEROS =
            Arena.global().allocate(Sectors.SECTOR_SIZE * SUB_JOB_SECTORS, ChunkBufferPool.ALIGN_BYTES);

    /** A range of a device, in sectors. */
    public record Region(BlockDevice device, long sector, long sectors) {
        public Region {
            Objects.requireNonNull(device, "device");
            if (sector < 0 || sectors <= 0) {
                throw new IllegalArgumentException("region: [" + sector + ", +" + sectors + ") (expected: sector >= 0, sectors > 0)");
            }
        }
    }

    /** Runs on the engine's worker when a job has finished; errors are per direction as in kcopyd. */
    @FunctionalInterface
    public interface Callback {
        void done(boolean readError, boolean writeError);
    }

    private final Submitter submitter;
    private final String name;
    private final int maxJobsInFlight;
    private final int bufferSectors;
    private final BioSet bios;
    private final ChunkBufferPool buffers;
    /** How long an idle worker waits before looking again; well below any watchdog threshold. */
    /** Address alignment of every copy buffer: what O_DIRECT asks of a buffer (a page). */
    public static final long BUFFER_ALIGN_BYTES = ChunkBufferPool.ALIGN_BYTES;

    static final Duration IDLE_WAIT = Duration.ofMillis(100);

    private final ConcurrentLinkedQueue<Runnable> events = new ConcurrentLinkedQueue<>();
    /** The completion the idle worker waits on, or null while it is busy. */
    private final AtomicReference<IoCompletion> wake = new AtomicReference<>();
    private final Thread worker;
    private final AtomicInteger jobs = new AtomicInteger();
    private volatile boolean closed;

    // Worker-confined.
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    /** Jobs started and not finished (at most maxJobsInFlight). */
    private final Set<Job> active = new HashSet<>();
    private int inFlight;

    /** An engine whose copies go in pieces of {@link #SUB_JOB_SECTORS}. */
    public CopyEngine(Submitter submitter, String name, int maxJobsInFlight) {
        this(submitter, name, maxJobsInFlight, SUB_JOB_SECTORS);
    }

    /**
     * @param bufferSectors the size of each pooled copy buffer, and so of each read/write piece, in
     *                      [1, {@link #SUB_JOB_SECTORS}]: a snapshot's engine copies single chunks and
     *                      passes its chunk size when that is smaller
     */
    public CopyEngine(Submitter submitter, String name, int maxJobsInFlight, int bufferSectors) {
        if (maxJobsInFlight < 1) {
            throw new IllegalArgumentException("maxJobsInFlight: " + maxJobsInFlight + " (expected: >= 1)");
        }
        if (bufferSectors < 1 || bufferSectors > SUB_JOB_SECTORS) {
            throw new IllegalArgumentException("bufferSectors: " + bufferSectors + " (expected: in [1, " + SUB_JOB_SECTORS + "])");
        }
        this.submitter = submitter;
        this.name = name;
        this.maxJobsInFlight = maxJobsInFlight;
        this.bufferSectors = bufferSectors;
        this.buffers = new ChunkBufferPool("kcopyd-" + name, Sectors.toBytes(bufferSectors), maxJobsInFlight);
        this.bios = submitter.newBioSet("kcopyd-" + name, 2 * maxJobsInFlight);
        this.worker = Thread.ofPlatform().daemon().name("cairn-kcopyd-" + name).start(this::run);
    }

    /** Copies {@code from} to {@code to} (same length) and then calls {@code callback} on the worker. */
    public void copy(Region from, Region to, Callback callback) {
        if (from.sectors() != to.sectors()) {
            throw new IllegalArgumentException("to.sectors: " + to.sectors() + " (expected: from.sectors " + from.sectors() + ")");
        }
        enqueue(new Job(from, to, Objects.requireNonNull(callback, "callback")));
    }

    /** Writes zeros over {@code to} and then calls {@code callback} on the worker ({@code dm_kcopyd_zero}). */
    public void zero(Region to, Callback callback) {
        enqueue(new Job(null, to, Objects.requireNonNull(callback, "callback")));
    }

    /** Runs {@code task} on the worker, after the events queued before it ({@code dm_kcopyd_do_callback}). */
    public void post(Runnable task) {
        if (closed) {
            throw new IllegalStateException("copy engine " + name + " is closed");
        }
        signal(task);
    }

    /** Queues an event and wakes the worker if it is idle. */
    private void signal(Runnable event) {
        events.add(event);
        // happens-before: the add above is seen by a worker that armed its completion before this swap.
        IoCompletion w = wake.getAndSet(null);
        if (w != null) {
            w.complete();
        }
    }

    /** Jobs accepted and not finished yet (their callbacks not returned). */
    public int jobsInFlight() {
        return jobs.get();
    }

    public String name() {
        return name;
    }

    /** The engine's copy buffers (for tests and diagnostics). */
    /**
     * The copy buffers' numbers now: what {@code dmstats}-style reporting and tests read. Safe from any thread
     * (each number is read atomically; together they are a snapshot only when the engine is idle).
     */
    public BufferStats bufferStats() {
        return buffers.stats();
    }

    /**
     * Copy buffers of one engine: their size, the bound, how many were made, how many are out now and at
     * most, how many takes there were, how many were made past the bound (always 0 unless a bug), and
     * whether the native memory was freed (after close, once the last buffer came back).
     */
    public record BufferStats(long bufferBytes, int capacity, int created, int outstanding, int maxOutstanding,
            long takes, long extraAllocations, boolean freed) {}

    /** True when the calling thread is this engine's worker. */
    public boolean isWorkerThread() {
        return Thread.currentThread() == worker;
    }

    private void enqueue(Job job) {
        jobs.incrementAndGet();
        post(() -> start(job));
    }

    // ---------------------------------------------------------------- worker

    private void run() {
        try {
            loop();
        } finally {
            abandonActiveJobs();
            // No more takes once the worker is gone: frees the arena now, or when the last bio ends.
            buffers.close();
        }
    }

    /**
     * The worker is stopping (closed, or the submitter shut down): drop its reference to each active
     * job's buffer. A buffer with no bio in flight goes back now; one with a bio in flight goes back
     * from that bio's end-io. The jobs' callbacks do not run (their owners end their bios themselves
     * after a shutdown, as {@code Snapshot.abortPending} does).
     */
    private void abandonActiveJobs() {
        for (Job job : active) {
            if (job.from != null) {
                job.unref();
            }
        }
        active.clear();
        inFlight = 0;
    }

    private void loop() {
        while (true) {
            Runnable event;
            try {
                event = nextEvent();
            } catch (IoAbortedException e) {
                return; // the submitter shut down
            }
            if (event == null) {
                continue;
            }
            if (event == STOP) {
                return;
            }
            try {
                event.run();
            } catch (IoAbortedException e) {
                if (submitter.isShutdown()) {
                    LOG.log(System.Logger.Level.DEBUG, "copy engine {0} stops: {1}", name, e.getMessage());
                    return;
                }
                LOG.log(System.Logger.Level.WARNING, "copy engine " + name + ": event aborted", e);
            } catch (RuntimeException | Error e) {
                LOG.log(System.Logger.Level.ERROR, "copy engine " + name + ": callback failed", e);
            }
        }
    }

    /** The next event, or null after an idle wait of at most {@link #IDLE_WAIT}. */
    private Runnable nextEvent() {
        Runnable event = events.poll();
        if (event != null) {
            return event;
        }
        IoCompletion w = new IoCompletion(submitter, "copy work for " + name);
        wake.set(w);
        event = events.poll();
        if (event != null) {
            return event;
        }
        w.await(IDLE_WAIT);
        return null;
    }

    private static final Runnable STOP = () -> { };

    private void start(Job job) {
        if (inFlight >= maxJobsInFlight) {
            waiting.add(job);
            return;
        }
        inFlight++;
        active.add(job);
        if (job.from != null) {
            // Never empty here: at most maxJobsInFlight jobs are active, each holding one buffer.
            job.take(buffers);
        }
        nextPiece(job);
    }

    private void nextPiece(Job job) {
        job.pieceSectors = (int) Math.min(job.from == null ? SUB_JOB_SECTORS : bufferSectors, job.to.sectors() - job.doneSectors);
        if (job.from == null) {
            write(job);
            return;
        }
        Bio bio = bios.alloc().setDevice(job.from.device()).setOp(BioOp.READ)
                .setSector(job.from.sector() + job.doneSectors).setData(piece(job));
        submitPiece(job, bio, true);
    }

    /**
     * Submits a read or write of the job's current piece. Its end-io drops the bio's reference to
     * the buffer (the I/O is over) <em>before</em> it queues the next step, so that by the time the
     * worker finishes the job its own reference is the last one and the buffer is back in the pool
     * before the next job starts (else that job could find the pool empty).
     */
    private void submitPiece(Job job, Bio bio, boolean read) {
        boolean copy = job.from != null;
        if (copy) {
            job.ref();
        }
        job.pieceEnded = false; // one piece of a job is in flight at a time
        bio.setEndIo(b -> {
            BioStatus s = b.status();
            job.pieceEnded = true;
            if (copy) {
                job.unref();
            }
            signal(read ? () -> readDone(job, s) : () -> writeDone(job, s));
        });
        try {
            submitter.submit(bio);
        } catch (RuntimeException | Error e) {
            // A driver bug: submit must complete a bio, never throw. Unless its end-io already ran, complete
            // the bio with an error as the device should have: the job still ends, its callback runs, and
            // its buffer and the bio go back to their pools (else the next jobs would wait for them forever).
            LOG.log(System.Logger.Level.ERROR, "copy engine " + name + ": submit threw for " + bio, e);
            if (!job.pieceEnded) {
                bio.complete(BioStatus.IOERR);
            }
        }
    }

    private MemorySegment piece(Job job) {
        MemorySegment buffer = job.from == null ? ZEROS : job.buffer.segment();
        return buffer.asSlice(0, Sectors.toBytes(job.pieceSectors));
    }

    private void readDone(Job job, BioStatus status) {
        if (!status.isOk()) {
            job.readError = true;
            finish(job);
            return;
        }
        write(job);
    }

    private void write(Job job) {
        Bio bio = bios.alloc().setDevice(job.to.device()).setOp(BioOp.WRITE)
                .setSector(job.to.sector() + job.doneSectors).setData(piece(job));
        submitPiece(job, bio, false);
    }

    private void writeDone(Job job, BioStatus status) {
        if (!status.isOk()) {
            job.writeError = true;
            finish(job);
            return;
        }
        job.doneSectors += job.pieceSectors;
        if (job.doneSectors < job.to.sectors()) {
            nextPiece(job);
        } else {
            finish(job);
        }
    }

    private void finish(Job job) {
        inFlight--;
        active.remove(job);
        // Every bio of the job has ended and dropped its reference: this is the last one, and the
        // buffer goes back before the callback, which may block (a commit).
        if (job.from != null) {
            job.unref();
        }
        try {
            job.callback.done(job.readError, job.writeError);
        } finally {
            jobs.decrementAndGet();
            Job next;
            while (inFlight < maxJobsInFlight && (next = waiting.poll()) != null) {
                start(next);
            }
        }
    }

    /** Stops the worker after the events queued so far. Callers wait for their own jobs first. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        signal(STOP);
        if (Thread.currentThread() != worker) {
            try {
                worker.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        bios.close();
    }

    @Override
    public String toString() {
        return "CopyEngine[" + name + ", " + jobs.get() + " jobs]";
    }

    private static final class Job {
        final Region from;
        final Region to;
        final Callback callback;
        /** A copy job's buffer, set when it starts; read by whichever thread drops the last reference. */
        ChunkBufferPool.Buffer buffer;
        private ChunkBufferPool pool;
        /** References to the buffer: the worker's while the job is active, plus one per bio in flight. */
        private final AtomicInteger refs = new AtomicInteger();
        long doneSectors;
        int pieceSectors;
        boolean readError;
        boolean writeError;
        /** The end-io of the piece in flight ran (read by the worker when its submit threw). */
        volatile boolean pieceEnded;

        Job(Region from, Region to, Callback callback) {
            this.from = from;
            this.to = to;
            this.callback = callback;
        }

        /** On the worker, when a copy job starts: the worker's reference. */
        void take(ChunkBufferPool from) {
            pool = from;
            buffer = from.take();
            // happens-before: these writes precede the increment that any later decrement reads.
            refs.set(1);
        }

        void ref() {
            refs.incrementAndGet();
        }

        /** Drops one reference; the last one returns the buffer, exactly once. */
        void unref() {
            int left = refs.decrementAndGet();
            if (left == 0) {
                ChunkBufferPool.Buffer b = buffer;
                buffer = null;
                pool.release(b);
            } else if (left < 0) {
                throw new AssertionError("copy job buffer released twice");
            }
        }
    }
}
