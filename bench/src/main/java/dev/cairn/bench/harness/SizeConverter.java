package dev.cairn.bench.harness;

import dev.cairn.block.Sizes;
import picocli.CommandLine;

/** A byte size with K, M, G, T suffixes (powers of 1024) for picocli; a bad value is a usage error (exit 2). */
final class SizeConverter implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        try {
            return Sizes.parseBytes("size", value);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }
}
