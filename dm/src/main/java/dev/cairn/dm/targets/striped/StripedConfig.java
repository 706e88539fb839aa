package dev.cairn.dm.targets.striped;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Arguments of {@code striped <#stripes> <chunk_sectors> (<dev> <offset>)+}, with Linux's rules: the
 * chunk is a power of two of at least one page (8 sectors), and the target's length is a multiple of
 * {@code #stripes x chunk_sectors}, so every stripe gets the same whole number of chunks.
 *
 * @param chunkSectors chunk size in sectors
 * @param stripes      the stripes, in order: chunk {@code i} of the target goes to stripe {@code i % #stripes}
 */
public record StripedConfig(long chunkSectors, List<Stripe> stripes) {
    /** Smallest chunk: one 4 KiB page, as Linux requires. */
    public static final long MIN_CHUNK_SECTORS = 8;
    public static final String USAGE = "<#stripes> <chunk_sectors> (<dev> <offset>)+";

    /** One stripe: a device reference and where the stripe starts on it. */
    public record Stripe(String device, long offsetSectors) {
        public Stripe {
            Objects.requireNonNull(device, "device");
        }
    }

    public StripedConfig {
        stripes = List.copyOf(stripes);
        if (stripes.isEmpty()) {
            throw new IllegalArgumentException("stripes: 0 (expected: >= 1)");
        }
    }

    /** Parses and checks the arguments against a target of {@code lengthSectors}. */
    public static StripedConfig parse(TargetArgs args, long lengthSectors) throws TableException {
        args.expectAtLeast(2, USAGE);
        int count = args.nextInt("#stripes", 1, 65536);
        long chunk = args.nextPowerOfTwo("chunk_sectors", MIN_CHUNK_SECTORS);
        if (args.remaining() != 2L * count) {
            throw args.error("argument count", args.size(), (2 + 2L * count) + " for " + count + " stripes: " + USAGE);
        }
        List<Stripe> stripes = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            String dev = args.nextDeviceSpec("dev");
            long offset = args.nextSector("offset");
            stripes.add(new Stripe(dev, offset));
        }
        args.expectEnd();
        // chunk may be as large as 2^62: a product that does not fit cannot divide any device's length.
        if (chunk > Long.MAX_VALUE / count) {
            throw args.error("chunk_sectors", chunk, "#stripes x chunk_sectors at most " + lengthSectors + ", the length");
        }
        long unit = chunk * count;
        if (lengthSectors % unit != 0) {
            throw args.error("length", lengthSectors, "a multiple of #stripes x chunk_sectors = " + unit);
        }
        return new StripedConfig(chunk, stripes);
    }

    /** Sectors of each stripe that the target uses: {@code length / #stripes}. */
    public long stripeWidthSectors(long lengthSectors) {
        return lengthSectors / stripes.size();
    }

    /** The TABLE status form: {@code <#stripes> <chunk_sectors> <dev> <offset> ...}. */
    public String toTable() {
        StringBuilder sb = new StringBuilder().append(stripes.size()).append(' ').append(chunkSectors);
        for (Stripe s : stripes) {
            sb.append(' ').append(s.device()).append(' ').append(s.offsetSectors());
        }
        return sb.toString();
    }
}
