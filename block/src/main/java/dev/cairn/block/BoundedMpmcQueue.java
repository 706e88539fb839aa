package dev.cairn.block;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A bounded lock-free multi-producer multi-consumer queue (Dmitry Vyukov's array queue with
 * per-slot sequence numbers). Used as a bio pool's free list: no allocation per operation and no
 * ABA problem, which a Treiber stack of recycled bios would have.
 *
 * <p>Padding: {@code head} (taken by consumers) and {@code tail} (taken by producers) sit on cache lines
 * of their own, apart from each other and from the read-only fields, so a producer's CAS does not evict
 * the line a consumer spins on. Fields of one class may be reordered by the JVM, so the padding is built
 * as JCTools' {@code MpmcArrayQueue} builds it: each group in its own superclass (HotSpot lays out a
 * superclass's fields before its subclass's), 64 bytes of longs on each side.
 *
 * <p>Thread safety: every method may be called from any thread.
 */
final class BoundedMpmcQueue<T> extends BoundedMpmcQueueTailPad {
    private static final VarHandle SEQ = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle ITEM = MethodHandles.arrayElementVarHandle(Object[].class);
    private static final VarHandle HEAD;
    private static final VarHandle TAIL;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            HEAD = l.findVarHandle(BoundedMpmcQueueHead.class, "head", long.class);
            TAIL = l.findVarHandle(BoundedMpmcQueueTail.class, "tail", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final long[] sequence;
    private final Object[] items;
    private final int mask;

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

// The padding hierarchy of BoundedMpmcQueue (see its notes): head pad, head, head/tail pad, tail, tail pad.

@SuppressWarnings("unused")
abstract class BoundedMpmcQueueHeadPad {
    private long p00, p01, p02, p03, p04, p05, p06, p07;
}

abstract class BoundedMpmcQueueHead extends BoundedMpmcQueueHeadPad {
    /** The next position to take; consumers CAS it (through BoundedMpmcQueue's VarHandle). */
    volatile long head;
}

@SuppressWarnings("unused")
abstract class BoundedMpmcQueueMidPad extends BoundedMpmcQueueHead {
    private long p10, p11, p12, p13, p14, p15, p16, p17;
}

abstract class BoundedMpmcQueueTail extends BoundedMpmcQueueMidPad {
    /** The next position to fill; producers CAS it. */
    volatile long tail;
}

@SuppressWarnings("unused")
abstract class BoundedMpmcQueueTailPad extends BoundedMpmcQueueTail {
    private long p20, p21, p22, p23, p24, p25, p26, p27;
}
