"""Native Windows event logs (.evtx), any channel, through the Rust `evtx` package (pyevtx-rs).

The package parses chunks (in its own threads for large files) and hands each record over
as its JSON rendering; `sources.windows` maps it (see mapping.py). `raw` is that JSON
rendering, `record` the record number of the file, so `evtx_dump` finds the same record.

Bad input never stops a file:
- the package runs with `skip_errors=True`: a record or chunk it cannot parse becomes a
  RuntimeWarning, which we store as an `evtx_error` warning and go on;
- a file cut short ends in a partial chunk, which the package skips silently. We pad a
  copy to the chunk boundary with zeros so the records before the cut are read, and warn
  (`truncated`);
- a file whose header cannot be read at all is one `bad_evtx` warning.
"""

from __future__ import annotations

import bisect
import os
import shutil
import struct
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

import orjson
from evtx import PyEvtxParser

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.windows.builder import WinBatchBuilder, gc_paused
from aptwatch.sources.windows.evtxfast import split_record
from aptwatch.sources.windows.evtxjson import split_fast

MAGIC = b"ElfFile\x00"
HEADER_BYTES = 4096
CHUNK_BYTES = 65536
#: files at least this big are parsed with the package's threads; below, thread start-up costs more
THREADS_MIN_BYTES = 16 << 20
#: parser threads for big files (ingest already runs one worker process per core)
THREADS = 2
#: a 64 KiB chunk holds at most ~2,000 records (the smallest are ~30 bytes)
MAX_RECORDS_PER_CHUNK = 4096
_MAX_RECORD = 1 << 63


class Evtx(Source):
    name = "evtx"
    product = "windows"
    description = "Windows event log files (.evtx), any channel: Sysmon, Security, System, PowerShell, ..."
    priority = 10

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith(MAGIC)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        path = ctx.local_path()
        layout = _check_layout(path)
        yield from layout.problems
        tmpdir = None
        if layout.partial:
            tmpdir = tempfile.mkdtemp(prefix="aptwatch-evtx-")
            path = _padded_copy(path, os.path.join(tmpdir, "padded.evtx"))
        try:
            read = 0
            for item in _read(path, ctx):
                if isinstance(item, TableBatch):
                    read += item.num_rows
                yield item
            if read < layout.expected:
                yield IngestWarning("missing_records", f"the chunk headers list {layout.expected} records, "
                                                       f"{read} could be read: {layout.expected - read} lost "
                                                       "(see the other warnings of this file)")
        finally:
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)


class _Layout:
    """What the file header and chunk headers say, checked before parsing."""

    def __init__(self) -> None:
        self.problems: list[IngestWarning] = []
        #: the last chunk is partial (the file was cut): parse a zero-padded copy
        self.partial = False
        #: records the chunk headers list (so a loss the package does not report is still counted)
        self.expected = 0


def _check_layout(path: str) -> _Layout:
    out = _Layout()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = f.read(HEADER_BYTES)
        if len(header) < 128 or not header.startswith(MAGIC):
            return out  # the package reports it (bad_evtx)
        chunks = struct.unpack_from("<H", header, 42)[0]
        body = max(0, size - HEADER_BYTES)
        whole, rest = divmod(body, CHUNK_BYTES)
        if rest:
            out.partial = True
            out.problems.append(IngestWarning("truncated", f"file ends {rest} bytes into chunk {whole + 1} (size "
                                                           f"{size}); records before the cut are read, the rest "
                                                           "is lost", size))
        if chunks > whole + (1 if rest else 0):
            out.problems.append(IngestWarning("truncated", f"header lists {chunks} chunks, the file holds {whole} "
                                                           f"whole chunk(s){' and a partial one' if rest else ''}",
                                              size))
        for i in range(whole + (1 if rest else 0)):
            f.seek(HEADER_BYTES + i * CHUNK_BYTES)
            head = f.read(128)
            if head.startswith(b"ElfChnk\x00") and len(head) >= 24:
                first, last = struct.unpack_from("<QQ", head, 8)
                if first <= last and last - first < MAX_RECORDS_PER_CHUNK:
                    out.expected += last - first + 1
                    continue
                out.problems.append(IngestWarning("bad_chunk", f"chunk {i + 1}: implausible record numbers "
                                                               f"{first}..{last}", HEADER_BYTES + i * CHUNK_BYTES))
            elif head.strip(b"\x00"):
                out.problems.append(IngestWarning("bad_chunk", f"chunk {i + 1} has no chunk header; its records "
                                                               "cannot be located",
                                                  HEADER_BYTES + i * CHUNK_BYTES))
    return out


def _padded_copy(src: str, dst: str) -> str:
    with open(src, "rb") as f, open(dst, "wb") as out:
        shutil.copyfileobj(f, out, 1 << 20)
        size = out.tell()
        rest = (size - HEADER_BYTES) % CHUNK_BYTES
        if rest:
            out.write(b"\x00" * (CHUNK_BYTES - rest))
    return dst


def _read(path: str, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
    threads = THREADS if os.path.getsize(path) >= THREADS_MIN_BYTES else 1
    try:
        parser = PyEvtxParser(path, number_of_threads=threads, skip_errors=True)
        records = parser.records_json()
    except (OSError, RuntimeError, ValueError) as e:
        yield IngestWarning("bad_evtx", f"not a readable EVTX file: {e}"[:500], 0)
        return
    builder = WinBatchBuilder(ctx.settings.local_timezone, ctx.settings.batch_rows)
    state = _State()
    while not state.done:
        # The warnings filter is process state: set it only while the package runs, never
        # across a `yield` (other code runs then).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            with gc_paused():
                _fill(records, builder, state)
        for w in caught:
            if issubclass(w.category, RuntimeWarning):
                yield IngestWarning("evtx_error", str(w.message)[:500], state.last_record)
        yield from state.drain()
        yield from builder.finish()


class RecordRuns:
    """The record numbers seen so far, as sorted runs of consecutive numbers: a log as Windows wrote it
    is one run (constant memory for any file size); only out-of-order numbers cost an entry."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        #: inclusive ends of the runs; the reader extends the last run itself (the common case, inlined)
        self.ends: list[int] = []

    def add(self, x: int) -> bool:
        """Record x; False when it was already there."""
        ends = self.ends
        if ends and x == ends[-1] + 1:  # the common case: the next record
            ends[-1] = x
            return True
        starts = self._starts
        i = bisect.bisect_right(starts, x) - 1
        if i >= 0 and x <= ends[i]:
            return False
        if i >= 0 and x == ends[i] + 1:
            ends[i] = x
            if i + 1 < len(starts) and starts[i + 1] == x + 1:  # joins the next run
                ends[i] = ends.pop(i + 1)
                starts.pop(i + 1)
            return True
        if i + 1 < len(starts) and starts[i + 1] == x + 1:
            starts[i + 1] = x
            return True
        starts.insert(i + 1, x)
        ends.insert(i + 1, x)
        return True

    def __len__(self) -> int:
        return len(self._starts)


class _State:
    def __init__(self) -> None:
        self.done = False
        self.last_record: int | None = None
        self.position = 0
        self.seen = RecordRuns()
        self.problems: list[IngestWarning] = []

    def drain(self) -> Iterator[IngestWarning]:
        problems, self.problems = self.problems, []
        yield from problems


def _fill(records: Any, builder: WinBatchBuilder, state: _State) -> None:
    """Read records into the builder until it is full or the file ends. The hot loop: a record of the
    common shape is split by `evtxfast.split_record`, any other by the reference (`_split_reference`)."""
    add = builder.add
    split = split_record
    seen = state.seen
    ends = seen.ends
    limit = builder.batch_rows
    position = state.position
    last = state.last_record
    n = 0
    try:
        while n < limit:
            try:
                rec = next(records)
            except StopIteration:
                state.done = True
                return
            except RuntimeError as e:  # an error the package could not skip: the rest of the file is lost
                state.problems.append(IngestWarning("evtx_error", f"parsing stopped: {e}"[:500], last))
                state.done = True
                return
            n += 1
            position += 1
            record = rec["event_record_id"]
            raw = rec["data"]
            if ends and record == ends[-1] + 1 and record < _MAX_RECORD:
                ends[-1] = record  # the next record of a run (RecordRuns.add, inlined: the common case)
            else:
                in_range = 0 <= record < _MAX_RECORD
                if not in_range or not seen.add(record):
                    # Event ids are <source>-<record>: a corrupt (out of range) or repeated record number
                    # would collide, so such a record is stored under minus its position in the file.
                    state.problems.append(IngestWarning("duplicate_record" if in_range else "bad_record_number",
                                                        f"record number {record}; stored as record -{position} "
                                                        "(position in the file)", record if in_range else None))
                    record = -position
            last = record
            parts = split(raw) or _split_reference(raw, record, state)
            time, computer, channel, provider, eid, fields = parts
            add(record, time, computer, channel, provider, eid, fields, raw)
    finally:
        state.position = position
        state.last_record = last


def _split_reference(raw: str, record: int, state: _State) -> tuple[Any, Any, Any, Any, int | None, dict[str, Any]]:
    """The canonical pieces of any record (the reference path: orjson, then the general functions)."""
    try:
        ev = orjson.loads(raw)["Event"]
        if ev.__class__ is not dict:
            raise TypeError("Event is not an object")
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        # kept (in `generic`, raw only) so nothing is lost; a package bug if it ever happens
        state.problems.append(IngestWarning("bad_record", f"{type(e).__name__}: " + IngestWarning.excerpt(raw),
                                            record))
        return None, None, None, None, None, {}
    return split_fast(ev)
