package dev.cairn.dm.target.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioSet;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoAbortedException;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicInteger;

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
 * in a FIFO (the caller never blocks, like {@code dm_kcopyd_copy}). A job is cut into sub-jobs of
 * at most {@link #SUB_JOB_SECTORS} sectors (kcopyd's {@code SUB_JOB_SIZE}), each read into the job's
 * buffer and then written, so the memory held is {@code maxJobsInFlight} buffers of that size.
 * Bios come from the engine's own {@link BioSet}; the worker allocates them while it is not inside
 * any submission, so an empty set only waits for one of its own bios to come back.
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
    private static final MemorySegment ZEROS = MemorySegment.ofArray(new byte[Sectors.SECTOR_SIZE * SUB_JOB_SECTORS]);

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
    private final BioSet bios;
    /** How long an idle worker waits before looking again; well below any watchdog threshold. */
    static final Duration IDLE_WAIT = Duration.ofMillis(100);

    private final ConcurrentLinkedQueue<Runnable> events = new ConcurrentLinkedQueue<>();
    /** The completion the idle worker waits on, or null while it is busy. */
    private final AtomicReference<IoCompletion> wake = new AtomicReference<>();
    private final Thread worker;
    private final AtomicInteger jobs = new AtomicInteger();
    private volatile boolean closed;

    // Worker-confined.
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    private int inFlight;

    public CopyEngine(Submitter submitter, String name, int maxJobsInFlight) {
        if (maxJobsInFlight < 1) {
            throw new IllegalArgumentException("maxJobsInFlight: " + maxJobsInFlight + " (expected: >= 1)");
        }
        this.submitter = submitter;
        this.name = name;
        this.maxJobsInFlight = maxJobsInFlight;
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
        job.buffer = job.from == null ? ZEROS
                : MemorySegment.ofArray(new byte[(int) Sectors.toBytes(Math.min(SUB_JOB_SECTORS, job.to.sectors()))]);
        nextPiece(job);
    }

    private void nextPiece(Job job) {
        job.pieceSectors = (int) Math.min(SUB_JOB_SECTORS, job.to.sectors() - job.doneSectors);
        if (job.from == null) {
            write(job);
            return;
        }
        Bio bio = bios.alloc().setDevice(job.from.device()).setOp(BioOp.READ)
                .setSector(job.from.sector() + job.doneSectors).setData(piece(job));
        bio.setEndIo(b -> {
            BioStatus s = b.status();
            signal(() -> readDone(job, s));
        });
        submitter.submit(bio);
    }

    private MemorySegment piece(Job job) {
        return job.buffer.asSlice(0, Sectors.toBytes(job.pieceSectors));
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
        bio.setEndIo(b -> {
            BioStatus s = b.status();
            signal(() -> writeDone(job, s));
        });
        submitter.submit(bio);
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
        job.buffer = null;
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
        MemorySegment buffer;
        long doneSectors;
        int pieceSectors;
        boolean readError;
        boolean writeError;

        Job(Region from, Region to, Callback callback) {
            this.from = from;
            this.to = to;
            this.callback = callback;
        }
    }
}
