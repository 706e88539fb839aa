package dev.cairn.snapshot;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import java.util.Locale;

/**
 * The arguments of a {@code snapshot} or {@code snapshot-merge} line:
 * {@code <origin> <cow> <P|PO|N> <chunk_sectors> [<#feat> discard_zeroes_cow discard_passdown_origin]}.
 *
 * @param originSpec            the origin device reference as written
 * @param cowSpec               the COW device reference as written
 * @param store                 persistent ({@code P}), persistent understanding "Overflow" ({@code PO}) or transient ({@code N})
 * @param chunkSectors          0 (default, or the header's) or a power of two
 * @param discardZeroesCow      a discard of a whole chunk zeroes its COW copy
 * @param discardPassdownOrigin a discard is also passed down to the origin (needs {@code discardZeroesCow})
 */
public record SnapshotConfig(String originSpec, String cowSpec, StoreType store, int chunkSectors,
        boolean discardZeroesCow, boolean discardPassdownOrigin) {

    public static final String USAGE = "<origin> <cow> <P|PO|N> <chunk_sectors> [<#feat> discard_zeroes_cow discard_passdown_origin]";

    /** The exception store type argument. */
    public enum StoreType {
        P,
        PO,
        N;

        boolean persistent() {
            return this != N;
        }
    }

    /** Reads and validates every argument (devices are checked for syntax only, not opened). */
    public static SnapshotConfig parse(TargetArgs args, boolean merge) throws TableException {
        args.expectAtLeast(4, USAGE);
        String origin = args.nextDeviceSpec("origin");
        String cow = args.nextDeviceSpec("cow");
        String storeArg = args.next("store");
        StoreType store = switch (storeArg.toUpperCase(Locale.ROOT)) {
            case "P" -> StoreType.P;
            case "PO" -> StoreType.PO;
            case "N" -> StoreType.N;
            default -> throw args.error("store", storeArg, "P, PO or N");
        };
        if (merge && !store.persistent()) {
            throw args.error("store", storeArg, "P or PO: only a persistent snapshot can be merged");
        }
        long chunk = args.nextLong("chunk_sectors", 0, ChunkSize.MAX_SECTORS);
        if (chunk != 0 && Long.bitCount(chunk) != 1) {
            throw args.error("chunk_sectors", chunk, "0 or a power of two");
        }
        boolean zeroes = false;
        boolean passdown = false;
        TargetArgs features = args.nextFeatures("#feat", 2);
        while (features.hasNext()) {
            String f = features.nextKeyword("feature", "discard_zeroes_cow", "discard_passdown_origin");
            if (f.equals("discard_zeroes_cow")) {
                zeroes = true;
            } else {
                passdown = true;
            }
        }
        args.expectEnd();
        if (passdown && !zeroes) {
            throw args.error("feature", "discard_passdown_origin", "discard_zeroes_cow as well");
        }
        return new SnapshotConfig(origin, cow, store, (int) chunk, zeroes, passdown);
    }
}
