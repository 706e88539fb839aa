package dev.cairn.nbd.server;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Gives the physical pages under a buffer back to the kernel at once, with {@code madvise(MADV_DONTNEED)},
 * the call malloc implementations use to shrink a process: the mapping stays valid and reads as zeros
 * afterwards, so a buffer the pool stops keeping leaves the resident set when it is released instead of
 * when the garbage collector next finds it unreachable (a direct buffer's memory is freed only then).
 * Without {@code madvise} (not Linux) it does nothing and answers false.
 *
 * <p>Thread safety: stateless; the caller must own the memory (nobody reads or writes it concurrently).
 */
final class PageReturn {
    private static final int MADV_DONTNEED = 4;
    private static final Optional<MethodHandle> MADVISE = Linker.nativeLinker().defaultLookup().find("madvise")
            .map(addr -> Linker.nativeLinker().downcallHandle(addr,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT)));

    private PageReturn() {}

    /**
     * Returns the pages of {@code segment} (page-aligned, a whole number of pages) to the kernel; true when
     * the kernel took them.
     */
    static boolean dontNeed(MemorySegment segment) {
        if (MADVISE.isEmpty()) {
            return false;
        }
        try {
            return (int) MADVISE.get().invokeExact(segment, segment.byteSize(), MADV_DONTNEED) == 0;
        } catch (Throwable e) {
            return false;
        }
    }
}
