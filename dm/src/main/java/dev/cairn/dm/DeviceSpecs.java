package dev.cairn.dm;

import dev.cairn.block.Sizes;
import dev.cairn.block.store.MemoryStore;

/** Syntax of device references: {@code NAME}, {@code mem:SIZE}, {@code file:PATH}. */
final class DeviceSpecs {
    static final String MEM = "mem:";
    static final String FILE = "file:";

    private DeviceSpecs() {}

    /** Null when {@code spec} is well formed; otherwise what was expected. */
    static String checkSyntax(String spec) {
        if (spec.startsWith(MEM)) {
            long bytes = Sizes.parse(spec.substring(MEM.length())).orElse(-1);
            if (bytes <= 0 || bytes % MemoryStore.PAGE_BYTES != 0) {
                return "mem:SIZE with a size that is a positive multiple of 4K, such as mem:64M";
            }
            return null;
        }
        if (spec.startsWith(FILE)) {
            return spec.length() > FILE.length() ? null : "file:PATH with a path";
        }
        return isValidName(spec) ? null : "a device name, mem:SIZE or file:PATH";
    }

    /** Device names: 1 to 127 characters, no whitespace, no '/', no ':' (so they never look like a spec), not . or ... */
    static boolean isValidName(String name) {
        if (name.isEmpty() || name.length() > 127 || name.equals(".") || name.equals("..")) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (Character.isWhitespace(c) || c == '/' || c == ':' || c == '#' || Character.isISOControl(c)) {
                return false;
            }
        }
        return true;
    }
}
