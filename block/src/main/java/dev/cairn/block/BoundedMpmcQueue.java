package dev.cairn.block;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A bounded lock-free multi-producer multi-consumer queue (Dmitry Vyukov's array queue with
 * per-slot sequence numbers). Used as a bio pool's free list: no allocation per operation and no
 * ABA problem, which a Treiber stack of recycled bios would have.
 *
 * <p>Thread safety: every method may be called from any thread.
 */
final class BoundedMpmcQueue<T> {
    private static final VarHandle SEQ = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle ITEM = MethodHandles.arrayElementVarHandle(Object[].class);
    private static final VarHandle HEAD;
    private static final VarHandle TAIL;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            HEAD = l.findVarHandle(BoundedMpmcQueue.class, "head", long.class);
            TAIL = l.findVarHandle(BoundedMpmcQueue.class, "tail", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final long[] sequence;
    private final Object[] items;
    private final int mask;
    @SuppressWarnings("unused") private long p1, p2, p3, p4, p5, p6, p7;
    private volatile long head;
    @SuppressWarnings("unused") private long q1, q2, q3, q4, q5, q6, q7;
    private volatile long tail;

    BoundedMpmcQueue(int capacity) {
        int size = Integer.highestOneBit(Math.max(2, capacity - 1)) << 1;
        sequence = new long[size];
        items = new Object[size];
        mask = size - 1;
        for (int i = 0; i < size; i++) {
            sequence[i] = i;
        }
    }

    /** Adds {@code item}; false only when the queue holds as many items as it has slots. */
    boolean offer(T item) {
        int spins = 0;
        long pos = tail;
        while (true) {
            int slot = (int) pos & mask;
            long seq = (long) SEQ.getAcquire(sequence, slot);
            long diff = seq - pos;
            if (diff == 0) {
                if (TAIL.compareAndSet(this, pos, pos + 1)) {
                    ITEM.set(items, slot, item);
                    SEQ.setRelease(sequence, slot, pos + 1);
                    return true;
                }
                pos = tail;
            } else if (diff < 0) {
                // The slot still holds an item from one lap ago. Either the queue is really full, or a
                // consumer has claimed that item (moved head) but not yet released the slot: then wait
                // for it rather than report "full" with free room (a lost bio for a pool's free list).
                if (pos - head >= items.length) {
                    return false;
                }
                backOff(++spins);
                pos = tail;
            } else {
                pos = tail;
            }
        }
    }

    /** Removes the oldest item; null only when no item has been offered that is not yet taken. */
    @SuppressWarnings("unchecked")
    T poll() {
        int spins = 0;
        long pos = head;
        while (true) {
            int slot = (int) pos & mask;
            long seq = (long) SEQ.getAcquire(sequence, slot);
            long diff = seq - (pos + 1);
            if (diff == 0) {
                if (HEAD.compareAndSet(this, pos, pos + 1)) {
                    T item = (T) ITEM.get(items, slot);
                    ITEM.set(items, slot, null);
                    SEQ.setRelease(sequence, slot, pos + mask + 1);
                    return item;
                }
                pos = head;
            } else if (diff < 0) {
                // Not yet published for this lap. Empty only if no producer has claimed the slot;
                // otherwise one is between its claim and its publish: wait for it rather than report
                // "empty" while an item is on its way (a pool waiter would then sleep past it).
                if (tail == pos) {
                    return null;
                }
                backOff(++spins);
                pos = head;
            } else {
                pos = head;
            }
        }
    }

    /** Spins, then yields: the thread we wait for may have been preempted between claim and publish. */
    private static void backOff(int spins) {
        if (spins < 64) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }

    /** Approximate number of items (exact when no operation is in progress). */
    int size() {
        long h = head;
        long t = tail;
        return (int) Math.max(0, t - h);
    }
}
