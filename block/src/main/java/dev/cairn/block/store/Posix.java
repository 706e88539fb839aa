package dev.cairn.block.store;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Optional;

/**
 * The Linux system calls {@link FileStore} makes, through the FFM API (the JDK's file channels hide the
 * file descriptor, which {@code fallocate}, {@code lseek(SEEK_DATA)} and {@code pwritev2} need).
 *
 * <p>Every call returns the raw result and leaves {@code errno} in the caller's capture segment
 * ({@link #newErrnoState}), so no call allocates. A negative result means "failed, see errno".
 * {@code fallocate}, {@code preadv2}, {@code pwritev2} and {@code posix_fadvise} are optional: when the C
 * library lacks them their handles are empty and the store falls back.
 *
 * <p>Thread safety: stateless; the method handles are immutable.
 */
final class Posix {
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;
    /** {@code O_DIRECT} differs between architectures (x86 and riscv use 040000; arm and ppc do not). */
    static final int O_DIRECT = switch (System.getProperty("os.arch")) {
        case "aarch64", "arm" -> 0x10000;
        case "ppc64", "ppc64le" -> 0x20000;
        default -> 0x4000;
    };
    static final int SEEK_END = 2;
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;
    static final int RWF_DSYNC = 0x02;
    /** Fail with {@code EAGAIN} instead of blocking (data not in the page cache, a lock taken, I/O needed). */
    static final int RWF_NOWAIT = 0x08;
    /** {@code posix_fadvise} advice: drop the range's clean pages from the page cache (used by tests). */
    static final int POSIX_FADV_DONTNEED = 4;
    static final int IOV_MAX = 1024;
    static final long IOVEC_BYTES = 16;

    static final int EPERM = 1;
    static final int ENOENT = 2;
    static final int EINTR = 4;
    static final int EIO = 5;
    static final int ENXIO = 6;
    static final int EBADF = 9;
    static final int EAGAIN = 11;
    static final int EACCES = 13;
    static final int EISDIR = 21;
    static final int EINVAL = 22;
    static final int EFBIG = 27;
    static final int ENOSPC = 28;
    static final int EROFS = 30;
    static final int ENOSYS = 38;
    static final int EOPNOTSUPP = 95;
    static final int EDQUOT = 122;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO_HANDLE = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    private static final ValueLayout PTR = ValueLayout.ADDRESS;

    private static final MethodHandle OPEN = required("open", FunctionDescriptor.of(INT, PTR, INT, INT),
            ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = required("close", FunctionDescriptor.of(INT, INT), ERRNO);
    private static final MethodHandle PREADV = required("preadv", FunctionDescriptor.of(LONG, INT, PTR, INT, LONG), ERRNO);
    private static final MethodHandle PWRITEV = required("pwritev", FunctionDescriptor.of(LONG, INT, PTR, INT, LONG), ERRNO);
    private static final Optional<MethodHandle> PREADV2 = optional("preadv2",
            FunctionDescriptor.of(LONG, INT, PTR, INT, LONG, INT), ERRNO);
    private static final Optional<MethodHandle> PWRITEV2 = optional("pwritev2",
            FunctionDescriptor.of(LONG, INT, PTR, INT, LONG, INT), ERRNO);
    private static final MethodHandle FDATASYNC = required("fdatasync", FunctionDescriptor.of(INT, INT), ERRNO);
    private static final MethodHandle LSEEK = required("lseek", FunctionDescriptor.of(LONG, INT, LONG, INT), ERRNO);
    private static final Optional<MethodHandle> FALLOCATE = optional("fallocate",
            FunctionDescriptor.of(INT, INT, INT, LONG, LONG), ERRNO);
    /** Returns the error number itself (0 on success) rather than setting errno. */
    private static final Optional<MethodHandle> FADVISE = optional("posix_fadvise",
            FunctionDescriptor.of(INT, INT, LONG, LONG, INT));

    /**
     * {@code syscall(2)} with four arguments, for {@code cachestat} (Linux 6.5, no C library wrapper yet).
     * Number 451 on every architecture: it came after the tables were unified.
     */
    private static final Optional<MethodHandle> SYSCALL4 = optional("syscall",
            FunctionDescriptor.of(LONG, LONG, INT, PTR, PTR, INT), ERRNO, Linker.Option.firstVariadicArg(1));
    static final long SYS_CACHESTAT = 451;
    /** {@code struct cachestat_range}: two u64, offset and length. */
    static final long CACHESTAT_RANGE_BYTES = 16;
    /** {@code struct cachestat}: five u64; the first is {@code nr_cache}, pages in the page cache. */
    static final long CACHESTAT_BYTES = 40;
    private static final MethodHandle GETPAGESIZE = required("getpagesize", FunctionDescriptor.of(INT));

    private Posix() {}

    private static MethodHandle required(String name, FunctionDescriptor fd, Linker.Option... options) {
        return optional(name, fd, options).orElseThrow(() -> new UnsupportedOperationException(
                "C library function " + name + " not found (expected: Linux with glibc or musl)"));
    }

    private static Optional<MethodHandle> optional(String name, FunctionDescriptor fd, Linker.Option... options) {
        return LIBC.find(name).map(symbol -> LINKER.downcallHandle(symbol, fd, options));
    }

    /** A capture segment for errno, to pass to every call. */
    static MemorySegment newErrnoState(Arena arena) {
        return arena.allocate(CAPTURE);
    }

    static int errno(MemorySegment state) {
        return (int) ERRNO_HANDLE.get(state, 0L);
    }

    static boolean hasFallocate() {
        return FALLOCATE.isPresent();
    }

    static boolean hasPreadv2() {
        return PREADV2.isPresent();
    }

    static boolean hasPwritev2() {
        return PWRITEV2.isPresent();
    }

    static int open(MemorySegment errno, MemorySegment path, int flags, int mode) {
        try {
            return (int) OPEN.invokeExact(errno, path, flags, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int close(MemorySegment errno, int fd) {
        try {
            return (int) CLOSE.invokeExact(errno, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long preadv(MemorySegment errno, int fd, MemorySegment iov, int count, long offsetBytes) {
        try {
            return (long) PREADV.invokeExact(errno, fd, iov, count, offsetBytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long pwritev(MemorySegment errno, int fd, MemorySegment iov, int count, long offsetBytes) {
        try {
            return (long) PWRITEV.invokeExact(errno, fd, iov, count, offsetBytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long preadv2(MemorySegment errno, int fd, MemorySegment iov, int count, long offsetBytes, int flags) {
        try {
            return (long) PREADV2.orElseThrow().invokeExact(errno, fd, iov, count, offsetBytes, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long pwritev2(MemorySegment errno, int fd, MemorySegment iov, int count, long offsetBytes, int flags) {
        try {
            return (long) PWRITEV2.orElseThrow().invokeExact(errno, fd, iov, count, offsetBytes, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fdatasync(MemorySegment errno, int fd) {
        try {
            return (int) FDATASYNC.invokeExact(errno, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long lseek(MemorySegment errno, int fd, long offsetBytes, int whence) {
        try {
            return (long) LSEEK.invokeExact(errno, fd, offsetBytes, whence);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fallocate(MemorySegment errno, int fd, int mode, long offsetBytes, long lengthBytes) {
        try {
            return (int) FALLOCATE.orElseThrow().invokeExact(errno, fd, mode, offsetBytes, lengthBytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code posix_fadvise}: 0 or an error number; {@code ENOSYS} when the C library lacks it. */
    static int fadvise(int fd, long offsetBytes, long lengthBytes, int advice) {
        if (FADVISE.isEmpty()) {
            return ENOSYS;
        }
        try {
            return (int) FADVISE.orElseThrow().invokeExact(fd, offsetBytes, lengthBytes, advice);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code cachestat(fd, range, cstat, 0)}: 0, or -1 with errno ({@code ENOSYS} before Linux 6.5 or when the
     * C library has no {@code syscall}). {@code range} holds offset and length; {@code cstat} receives the counts.
     */
    static long cachestat(MemorySegment errno, int fd, MemorySegment range, MemorySegment cstat) {
        if (SYSCALL4.isEmpty()) {
            ERRNO_HANDLE.set(errno, 0L, ENOSYS);
            return -1;
        }
        try {
            return (long) SYSCALL4.orElseThrow().invokeExact(errno, SYS_CACHESTAT, fd, range, cstat, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int pageSizeBytes() {
        try {
            return (int) GETPAGESIZE.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A short name for an errno ({@code EIO}), for messages. */
    static String errnoName(int errno) {
        return switch (errno) {
            case EPERM -> "EPERM";
            case ENOENT -> "ENOENT";
            case EINTR -> "EINTR";
            case EIO -> "EIO";
            case ENXIO -> "ENXIO";
            case EBADF -> "EBADF";
            case EAGAIN -> "EAGAIN";
            case EACCES -> "EACCES";
            case EISDIR -> "EISDIR";
            case EINVAL -> "EINVAL";
            case EFBIG -> "EFBIG";
            case ENOSPC -> "ENOSPC";
            case EROFS -> "EROFS";
            case ENOSYS -> "ENOSYS";
            case EOPNOTSUPP -> "EOPNOTSUPP";
            case EDQUOT -> "EDQUOT";
            default -> "errno " + errno;
        };
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("native call failed", t);
    }
}
