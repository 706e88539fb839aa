package dev.cairn.thin;

import dev.cairn.block.Bio;
import dev.cairn.block.IoMutex;
import dev.cairn.block.Submitter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The bio prison of one pool (Linux {@code dm-bio-prison}), keyed by (thin device, virtual block).
 *
 * <p>A <b>cell</b> is held by the pool's worker while it provisions, copies, or unmaps that block: bios
 * for the block that arrive meanwhile are detained in the cell and handed back, in order, when it is
 * released. Next to the cells, the prison counts the bios that {@code map} remapped to a data block
 * and that are still in flight per key (Linux's {@code all_io} deferred set): before the worker changes
 * a mapping so that the old data block may be freed (breaking sharing, discard) it waits for that count
 * to drain, so no stale write can land on a block after it was handed to someone else. The wait is not
 * a blocking wait: the cell is marked, and the last such bio's completion puts the held work back on the
 * worker's queue.
 *
 * <p>Thread safety: one {@link IoMutex} (a blocking primitive) guards everything; critical sections do
 * no I/O and never wait.
 */
final class Prison {
    /** A virtual block of a thin device. */
    record Key(long devId, long vblock) {}

    /** Bios detained behind the worker's operation on one key. */
    static final class Cell {
        final Key key;
        final List<Bio> detained = new ArrayList<>();
        /** Work to run on the worker when in-flight I/O on the key has drained; null when not waiting. */
        PieceWork onDrained;

        Cell(Key key) {
            this.key = key;
        }
    }

    private final IoMutex lock;
    private final Map<Key, Cell> cells = new HashMap<>();
    private final Map<Key, int[]> inFlight = new HashMap<>();

    Prison(Submitter submitter, String name) {
        this.lock = new IoMutex(submitter, "thin prison " + name);
    }

    /**
     * From {@code map}: if a cell holds {@code key}, detains {@code bio} in it and returns true; otherwise
     * counts {@code bio} as in flight on the key (when {@code track}) and returns false.
     */
    boolean detainOrTrack(Key key, Bio bio, boolean track) {
        lock.lock();
        try {
            Cell c = cells.get(key);
            if (c != null) {
                c.detained.add(bio);
                return true;
            }
            if (track) {
                inFlight.computeIfAbsent(key, k -> new int[1])[0]++;
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    /** A tracked bio on {@code key} ended; returns the work to resume if it was the last one a cell waited for. */
    PieceWork untrack(Key key) {
        lock.lock();
        try {
            int[] n = inFlight.get(key);
            if (n == null || n[0] <= 0) {
                throw new AssertionError("untrack " + key + " without track");
            }
            if (--n[0] > 0) {
                return null;
            }
            inFlight.remove(key);
            Cell c = cells.get(key);
            if (c != null && c.onDrained != null) {
                PieceWork r = c.onDrained;
                c.onDrained = null;
                return r;
            }
            return null;
        } finally {
            lock.unlock();
        }
    }

    /** From the worker: takes the cell for {@code key}, or detains {@code bio} in the existing one and returns null. */
    Cell detain(Key key, Bio bio) {
        lock.lock();
        try {
            Cell c = cells.get(key);
            if (c != null) {
                if (bio != null) {
                    c.detained.add(bio);
                }
                return null;
            }
            c = new Cell(key);
            cells.put(key, c);
            return c;
        } finally {
            lock.unlock();
        }
    }

    /** True when no cell holds {@code key} now (a hint for the worker). */
    boolean isFree(Key key) {
        lock.lock();
        try {
            return !cells.containsKey(key);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Arranges for {@code work} to run once the bios in flight on the cell's key have ended. Returns true
     * when there are none (the caller goes on at once and {@code work} is dropped).
     */
    boolean drainedOrWait(Cell cell, PieceWork work) {
        lock.lock();
        try {
            int[] n = inFlight.get(cell.key);
            if (n == null || n[0] == 0) {
                return true;
            }
            cell.onDrained = work;
            return false;
        } finally {
            lock.unlock();
        }
    }

    /** Releases the cell and returns its detained bios, in arrival order, for the caller to process again. */
    List<Bio> release(Cell cell) {
        lock.lock();
        try {
            if (cells.remove(cell.key) != cell) {
                throw new AssertionError("release of a cell not held: " + cell.key);
            }
            return new ArrayList<>(cell.detained);
        } finally {
            lock.unlock();
        }
    }

    /** Cells held now (for status and tests). */
    int cellCount() {
        lock.lock();
        try {
            return cells.size();
        } finally {
            lock.unlock();
        }
    }
}
