#!/usr/bin/env python3
"""Counts the entries of a dm-log-writes log by kind, read straight from the kernel's format (a reader
independent of Cairn's classes): the server-side proof of how many writes and FLUSHes a client sent.

    bench/harness/lwcount.py LOG        prints one JSON object: entries, writes, flushes, fua, discards,
                                        marks, write_bytes, last_mark, complete (ends with the
                                        dm-log-writes-end mark), writes_per_flush
"""
import json
import struct
import sys

MAGIC = 0x6A736677736872  # "rhswfsj" read as a little-endian u64
FLUSH, FUA, DISCARD, MARK = 1, 2, 4, 8


def count(path):
    c = dict(entries=0, writes=0, flushes=0, fua=0, discards=0, marks=0, write_bytes=0, last_mark=None)
    with open(path, "rb") as f:
        magic, version, nr_entries, sectorsize = struct.unpack("<QQQI", f.read(28))
        if magic != MAGIC or version != 1:
            sys.exit(f"lwcount: {path}: not a log-writes log (magic {magic:#x}, version {version})")
        at = sectorsize
        for _ in range(nr_entries):
            f.seek(at)
            sector, nr_sectors, flags, data_len = struct.unpack("<QQQQ", f.read(32))
            c["entries"] += 1
            c["last_mark"] = None  # set again below when this entry is a mark: the last entry's mark
            if flags & MARK:
                c["marks"] += 1
                c["last_mark"] = f.read(min(data_len, sectorsize - 32)).decode("utf-8", "replace")
            elif flags & DISCARD:
                c["discards"] += 1
            elif nr_sectors:
                c["writes"] += 1
                c["write_bytes"] += nr_sectors * sectorsize
            if flags & FLUSH:
                c["flushes"] += 1
            if flags & FUA:
                c["fua"] += 1
            at += sectorsize
            if not flags & (MARK | DISCARD):
                at += nr_sectors * sectorsize
    c["complete"] = c["last_mark"] == "dm-log-writes-end"  # the target went away cleanly
    c["writes_per_flush"] = round(c["writes"] / c["flushes"], 2) if c["flushes"] else None
    return c


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(json.dumps(count(sys.argv[1])))
