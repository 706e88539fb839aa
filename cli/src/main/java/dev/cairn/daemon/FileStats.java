package dev.cairn.daemon;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * Allocated size of a (sparse) file: {@code st_blocks * 512} from {@code stat(2)}, which Java's file
 * attributes do not expose. Called through the FFM API; on a platform where that is not possible it
 * answers -1 ("unknown") rather than a wrong number.
 *
 * <p>{@code st_blocks} sits at byte 64 of {@code struct stat} on both Linux x86_64 and aarch64 (the
 * generic layout); other platforms answer -1.
 */
public final class FileStats {
    private static final MethodHandle STAT = lookupStat();
    private static final int STAT_SIZE = 256;
    private static final long ST_BLOCKS_OFFSET = 64;

    private FileStats() {}

    private static MethodHandle lookupStat() {
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "");
        if (!os.equals("Linux") || !(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) {
            return null;
        }
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("stat")
                    .map(addr -> linker.downcallHandle(addr,
                            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS)))
                    .orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** Bytes the file occupies on disk, or -1 when unknown. */
    public static long allocatedBytes(Path path) {
        if (STAT == null) {
            return -1;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocateFrom(path.toAbsolutePath().toString());
            MemorySegment buf = arena.allocate(STAT_SIZE, 16);
            int rc = (int) STAT.invokeExact(name, buf);
            if (rc != 0) {
                return -1;
            }
            return buf.get(ValueLayout.JAVA_LONG_UNALIGNED, ST_BLOCKS_OFFSET) * 512;
        } catch (Throwable t) {
            return -1;
        }
    }
}
