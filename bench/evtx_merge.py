"""Build large, valid .evtx files from the chunks of small ones (benchmark input).

An EVTX file is a 4 KiB header and 64 KiB chunks; each chunk is self-contained (its own
string and template tables), so the chunks of many files can be laid end to end under one
header. Record numbers are rewritten so that they run 1..N within the new file (plus an
offset, which makes every copy distinct content: ingest skips content it already has), and
the chunk and header CRC32s are recomputed, so strict readers accept the result too.
Empty chunks are dropped.

    python bench/evtx_merge.py OUT.evtx IN.evtx... [--first-record N]
"""

from __future__ import annotations

import argparse
import struct
import zlib
from collections.abc import Iterable, Iterator

HEADER = 4096
CHUNK = 65536


def chunks_of(path: str) -> Iterator[bytes]:
    """The non-empty chunks of an EVTX file, as bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"ElfFile\x00"):
        return
    for off in range(HEADER, len(data) - CHUNK + 1, CHUNK):
        chunk = data[off : off + CHUNK]
        if not chunk.startswith(b"ElfChnk\x00"):
            continue
        free = struct.unpack_from("<I", chunk, 48)[0]
        if free <= 512 or free > CHUNK:
            continue
        yield chunk


def renumber(chunk: bytes, first: int) -> tuple[bytes, int]:
    """The chunk with its records numbered from `first`; returns (chunk, next number)."""
    buf = bytearray(chunk)
    free = struct.unpack_from("<I", buf, 48)[0]
    off = 512
    n = first
    while off + 24 <= free and buf[off : off + 4] == b"\x2a\x2a\x00\x00":
        size = struct.unpack_from("<I", buf, off + 4)[0]
        if size < 28 or off + size > free:
            break
        struct.pack_into("<Q", buf, off + 8, n)
        n += 1
        off += size
    if n == first:
        return bytes(buf), n
    struct.pack_into("<QQQQ", buf, 8, first, n - 1, first, n - 1)
    struct.pack_into("<I", buf, 52, zlib.crc32(bytes(buf[512:free])) & 0xFFFFFFFF)
    struct.pack_into("<I", buf, 124, zlib.crc32(bytes(buf[0:120]) + bytes(buf[128:512])) & 0xFFFFFFFF)
    return bytes(buf), n


def merge(out_path: str, inputs: Iterable[str], first_record: int = 1, max_chunks: int = 65535) -> int:
    """Write one EVTX holding the chunks of `inputs`; returns the number of records."""
    n = first_record
    count = 0
    with open(out_path, "wb") as out:
        out.write(b"\x00" * HEADER)
        for path in inputs:
            for chunk in chunks_of(path):
                if count >= max_chunks:
                    break
                new, n = renumber(chunk, n)
                out.write(new)
                count += 1
        header = bytearray(HEADER)
        header[0:8] = b"ElfFile\x00"
        struct.pack_into("<QQQIHHHH", header, 8, 0, max(count - 1, 0), n, 128, 1, 3, HEADER, count)
        struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[0:120])) & 0xFFFFFFFF)
        out.seek(0)
        out.write(header)
    return n - first_record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--first-record", type=int, default=1)
    a = ap.parse_args()
    print(merge(a.out, a.inputs, a.first_record))


if __name__ == "__main__":
    main()
