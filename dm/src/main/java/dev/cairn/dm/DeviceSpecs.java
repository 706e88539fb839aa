package dev.cairn.dm;

/**
 * Syntax of device references: a device name, or {@code SCHEME:REST} for a leaf ({@link LeafType}).
 * Names never contain a colon, so a colon always means a leaf reference.
 */
final class DeviceSpecs {
    private DeviceSpecs() {}

    /**
     * Null when {@code spec} is well formed for {@code types}; otherwise what was expected (a scheme these
     * types do not know is not well formed).
     */
    static String checkSyntax(String spec, LeafTypes types) {
        if (spec.indexOf(':') >= 0) {
            java.util.Optional<LeafType> type = types.forSpec(spec);
            return type.isPresent() ? type.get().checkSyntax(spec) : expected(types);
        }
        return isValidName(spec) ? null : expected(types);
    }

    /** What a reference may be: "a device name, mem:SIZE or file:PATH". */
    static String expected(LeafTypes types) {
        String leaves = types.syntaxSummary();
        if (leaves.isEmpty()) {
            return "a device name";
        }
        return (leaves.contains(" or ") ? "a device name, " : "a device name or ") + leaves;
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
