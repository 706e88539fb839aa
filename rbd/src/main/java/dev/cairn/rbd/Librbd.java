package dev.cairn.rbd;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * The parts of Debian's {@code librados.so.2} and {@code librbd.so.1} (Ceph 16, headers
 * {@code rados/librados.h}, {@code rbd/librbd.h}) that Cairn calls, bound with the Foreign Function &amp;
 * Memory API: no JNI code of our own. Every function returns 0 or a negative errno (reads: the byte
 * count). Handles ({@code rados_t}, {@code rados_ioctx_t}, {@code rbd_image_t}, {@code rbd_completion_t})
 * are opaque pointers, kept as {@link MemorySegment} addresses.
 *
 * <p>The libraries are loaded on first use; a host without them gets an {@link UnsatisfiedLinkError}
 * naming the Debian packages ({@code librbd1}, {@code librados2}).
 *
 * <p>Thread safety: the method handles are immutable; librados and librbd are thread-safe for these calls.
 */
final class Librbd {
    private Librbd() {}

    /** {@code LIBRADOS_OP_FLAG_FADVISE_FUA}; unused: FUA is a write then a flush (see {@link RbdDevice}). */
    static final int RBD_WRITE_ZEROES_FLAG_THICK_PROVISION = 1;
    /** {@code sizeof(rbd_image_info_t)} is 160 on x86-64; a larger buffer is accepted by rbd_stat. */
    static final int IMAGE_INFO_BYTES = 256;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBS = load();

    private static SymbolLookup load() {
        try {
            SymbolLookup rados = SymbolLookup.libraryLookup("librados.so.2", Arena.global());
            SymbolLookup rbd = SymbolLookup.libraryLookup("librbd.so.1", Arena.global());
            return rbd.or(rados);
        } catch (IllegalArgumentException e) {
            UnsatisfiedLinkError u = new UnsatisfiedLinkError(
                    "librbd.so.1 / librados.so.2 not found: install the Debian packages librbd1 and librados2 ("
                            + e.getMessage() + ")");
            u.initCause(e);
            throw u;
        }
    }

    private static MethodHandle fn(String name, FunctionDescriptor d) {
        MemorySegment sym = LIBS.find(name).orElseThrow(() -> new UnsatisfiedLinkError("librbd/librados: no symbol " + name));
        return LINKER.downcallHandle(sym, d);
    }

    // librados
    static final MethodHandle RADOS_CREATE2 = fn("rados_create2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    static final MethodHandle RADOS_CONF_READ_FILE = fn("rados_conf_read_file", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    static final MethodHandle RADOS_CONF_SET = fn("rados_conf_set", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle RADOS_CONNECT = fn("rados_connect", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    static final MethodHandle RADOS_SHUTDOWN = fn("rados_shutdown", FunctionDescriptor.ofVoid(ADDRESS));
    static final MethodHandle RADOS_IOCTX_CREATE = fn("rados_ioctx_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle RADOS_IOCTX_DESTROY = fn("rados_ioctx_destroy", FunctionDescriptor.ofVoid(ADDRESS));

    // librbd: images
    static final MethodHandle RBD_OPEN = fn("rbd_open", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle RBD_OPEN_READ_ONLY = fn("rbd_open_read_only", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle RBD_CLOSE = fn("rbd_close", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    static final MethodHandle RBD_STAT = fn("rbd_stat", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    static final MethodHandle RBD_CREATE2 = fn("rbd_create2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
    static final MethodHandle RBD_RESIZE = fn("rbd_resize", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    static final MethodHandle RBD_LIST2 = fn("rbd_list2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle RBD_IMAGE_SPEC_LIST_CLEANUP = fn("rbd_image_spec_list_cleanup", FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG));

    // librbd: asynchronous I/O
    static final MethodHandle RBD_AIO_CREATE_COMPLETION = fn("rbd_aio_create_completion",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle RBD_AIO_READ = fn("rbd_aio_read", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
    static final MethodHandle RBD_AIO_WRITE = fn("rbd_aio_write", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
    static final MethodHandle RBD_AIO_FLUSH = fn("rbd_aio_flush", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    static final MethodHandle RBD_AIO_DISCARD = fn("rbd_aio_discard", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
    static final MethodHandle RBD_AIO_WRITE_ZEROES = fn("rbd_aio_write_zeroes",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT));
    static final MethodHandle RBD_AIO_GET_RETURN_VALUE = fn("rbd_aio_get_return_value", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
    static final MethodHandle RBD_AIO_GET_ARG = fn("rbd_aio_get_arg", FunctionDescriptor.of(ADDRESS, ADDRESS));
    static final MethodHandle RBD_AIO_RELEASE = fn("rbd_aio_release", FunctionDescriptor.ofVoid(ADDRESS));

    // librbd: event notification (completions made without a callback are reported through an eventfd)
    /** {@code EVENT_TYPE_EVENTFD} of {@code rbd_set_image_notification}. */
    static final int EVENT_TYPE_EVENTFD = 2;
    static final MethodHandle RBD_SET_IMAGE_NOTIFICATION = fn("rbd_set_image_notification",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    static final MethodHandle RBD_POLL_IO_EVENTS = fn("rbd_poll_io_events", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));

    // libc: the eventfd itself
    /** {@code EFD_CLOEXEC}. */
    static final int EFD_CLOEXEC = 0x80000;
    static final MethodHandle EVENTFD = libc("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    static final MethodHandle READ = libc("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    static final MethodHandle WRITE = libc("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    static final MethodHandle CLOSE = libc("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private static MethodHandle libc(String name, FunctionDescriptor d) {
        MemorySegment sym = LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc: no symbol " + name));
        return LINKER.downcallHandle(sym, d);
    }

    // librbd: allocation
    /** {@code int (*cb)(uint64_t off, size_t len, int exists, void *arg)}. */
    static final FunctionDescriptor DIFF_CALLBACK = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS);
    static final MethodHandle RBD_DIFF_ITERATE2 = fn("rbd_diff_iterate2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_BYTE, JAVA_BYTE, ADDRESS, ADDRESS));

    static Linker linker() {
        return LINKER;
    }

    /** Throws an {@link java.io.IOException} "{@code what}: errno N (NAME)" when {@code rc < 0}. */
    static int check(int rc, String what) throws java.io.IOException {
        if (rc < 0) {
            throw new java.io.IOException(what + ": " + errnoName(-rc));
        }
        return rc;
    }

    static String errnoName(int errno) {
        String name = switch (errno) {
            case 1 -> "EPERM";
            case 2 -> "ENOENT";
            case 5 -> "EIO";
            case 12 -> "ENOMEM";
            case 13 -> "EACCES";
            case 16 -> "EBUSY";
            case 17 -> "EEXIST";
            case 22 -> "EINVAL";
            case 28 -> "ENOSPC";
            case 30 -> "EROFS";
            case 34 -> "ERANGE";
            case 95 -> "EOPNOTSUPP";
            case 108 -> "ESHUTDOWN";
            case 110 -> "ETIMEDOUT";
            case 122 -> "EDQUOT";
            default -> "errno " + errno;
        };
        return name.startsWith("errno") ? name : name + " (errno " + errno + ")";
    }
}
