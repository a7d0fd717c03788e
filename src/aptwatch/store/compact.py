"""Compaction: merge a partition's small Parquet files into few large, time-sorted ones.

Every source writes its own files, so a folder of 300 EVTX files makes hundreds of small
files per day, and daily ingests keep adding more. Scans pay per file; pruning works best on
time-sorted row groups. Compaction runs after each ingest over the partitions it touched:
small files are read, sorted by time, written as new files, and swapped in the manifest in
one transaction (old files retired; `recover` deletes them after a grace period, so a reader
that planned with the old manifest still finds them).

Memory: a merge group (at most MERGE_ROWS rows and MERGE_BYTES of Parquet-uncompressed bytes) is
held once, as read; its sorted order is written to one file of the group's own partition a chunk
(CHUNK_BYTES) at a time, in this thread. The peak is set by these bounds, never by how much the
ingest wrote: before, a sorted second copy of the group and the lake writer's buffers and write
queues (up to ~6 pending writes) came on top, and a large ingest's main process peaked at ~550 MB
(docs/benchmarks.md, issue 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aptwatch.model.schema import arrow_schema, event_table
from aptwatch.store.lake import (
    ROW_GROUP_ROWS,
    FileEntry,
    TimeBounds,
    insert_file_entries,
    open_lake_file,
    widen_time_bounds,
)

#: files with fewer rows are merge candidates
SMALL_FILE_ROWS = 250_000
#: rows merged into one output file at most (bounds memory: the group is read whole)
MERGE_ROWS = 1_000_000
#: uncompressed bytes (Parquet metadata) merged at once at most: wide rows (Windows events carry their
#: `raw` record and `data`, ~1.5-3 KB a row) would otherwise put up to ~3 GB in memory for MERGE_ROWS.
#: Decoded in Arrow a group is ~1.3-1.6x this, and the reader's freed decode buffers stay in the process
#: (Arrow's allocator) for a while: a group costs ~2.5x this in peak RSS. 64 MB cost ~250 MB over the main
#: process's ~190 MB, more than a parse worker's whole peak (issue 3, docs/benchmarks.md); files of half
#: this or more are no longer rewritten (they can only pair with smaller ones), which also saves the CPU of
#: rewriting files that are large already.
MERGE_BYTES = 32 << 20
#: a partition is compacted when it has at least this many small files
MIN_FILES = 4
#: Arrow bytes of sorted rows copied out of a merge group and written at once (one row group, at most
#: ROW_GROUP_ROWS rows): beside the group, only its sort order (8 bytes a row) and one chunk are held
CHUNK_BYTES = 16 << 20


@dataclass(frozen=True)
class CompactReport:
    partitions: int = 0
    files_in: int = 0
    files_out: int = 0
    rows: int = 0


def _groups(rows: list[tuple[str, int]], sizes: dict[str, int] | None = None) -> list[list[str]]:
    """Split (path, rows) into groups of at most MERGE_ROWS rows and MERGE_BYTES bytes (`sizes`:
    uncompressed bytes per path, when known), keeping order."""
    sizes = sizes or {}
    groups: list[list[str]] = []
    cur: list[str] = []
    total = 0
    total_bytes = 0
    for path, n in rows:
        b = sizes.get(path, 0)
        if cur and (total + n > MERGE_ROWS or total_bytes + b > MERGE_BYTES):
            groups.append(cur)
            cur, total, total_bytes = [], 0, 0
        cur.append(path)
        total += n
        total_bytes += b
    if cur:
        groups.append(cur)
    return [g for g in groups if len(g) > 1]


def _uncompressed_bytes(root: Path, path: str) -> int:
    """Uncompressed size of a lake file's row groups (its footer only is read)."""
    meta = pq.read_metadata(root / path)
    return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def _read(root: Path, table: str, paths: Iterable[str]) -> pa.Table:
    """Read files written by any schema version, conformed to the current one, each column in one
    contiguous array (a `take` from a chunked column first concatenates all of it, on every call).

    A row group at a time, in this thread: `read_table` (whole file, pre-buffered, a thread per column)
    peaked higher for the same table and used more CPU. Columns are joined one at a time, so the
    transient copy is one column's."""
    schema = arrow_schema(event_table(table))
    cols: list[list[pa.Array]] = [[] for _ in schema]
    for p in paths:
        f = pq.ParquetFile(root / p, pre_buffer=False)
        for i in range(f.num_row_groups):
            t = f.read_row_group(i, use_threads=False)
            for k, c in enumerate(schema):
                col = t.column(c.name).cast(c.type) if c.name in t.column_names else pa.nulls(t.num_rows, c.type)
                cols[k].extend(col.chunks if isinstance(col, pa.ChunkedArray) else [col])
            del t
            # the reader's freed decode buffers back to the OS before the next row group (the allocator keeps
            # them otherwise, and they count in the peak on top of the group): ~10-20 MB less, no CPU measured
            pa.default_memory_pool().release_unused()
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for k, c in enumerate(schema):
        chunks, cols[k] = cols[k], []
        try:
            arrays.append(pa.concat_arrays(chunks) if chunks else pa.array([], c.type))
        except pa.ArrowInvalid:  # offsets past 2 GB: kept chunked (a `take` then joins it once per chunk)
            arrays.append(pa.chunked_array(chunks, c.type))
        del chunks
    return pa.Table.from_arrays(arrays, schema=schema)


def _chunks(data: pa.Table, chunk_bytes: int) -> Iterator[pa.Table]:
    """`data` sorted by (time, event_id), as copies of about `chunk_bytes` each (at most ROW_GROUP_ROWS
    rows): one chunk exists at a time beside `data` (`sort_by` made a second copy of all of it)."""
    n = data.num_rows
    if not n:
        return
    order = pc.sort_indices(data, sort_keys=[("time", "ascending"), ("event_id", "ascending")])
    step = max(1, min(ROW_GROUP_ROWS, chunk_bytes * n // max(data.get_total_buffer_size(), 1)))
    for a in range(0, n, step):
        yield data.take(order.slice(a, step))


def _merge(root: Path, table: str, day: str, paths: list[str], rel: str) -> FileEntry:
    """Merge `paths` (one partition's files) into the new lake file `rel` of the same partition, sorted
    by time. A partial file is deleted when this raises (it is not listed anywhere yet)."""
    data = _read(root, table, paths)
    writer = open_lake_file(root / rel, table)
    bounds: TimeBounds = (None, None)
    try:
        for chunk in _chunks(data, CHUNK_BYTES):
            writer.write_table(chunk, row_group_size=ROW_GROUP_ROWS)
            bounds = widen_time_bounds(bounds, chunk.column("time"))
        writer.close()
    except BaseException:
        try:
            writer.close()
        finally:
            (root / rel).unlink(missing_ok=True)
        raise
    return FileEntry(rel, table, day, data.num_rows, (root / rel).stat().st_size, *bounds)


def compact(root: Path, con: duckdb.DuckDBPyConnection, partitions: set[tuple[str, str]] | None = None,
            run_id: str | None = None) -> CompactReport:
    """Compact the given (table, day) partitions (all when None). Caller holds the store lock."""
    run_id = run_id or datetime.now(UTC).strftime("c%Y%m%dT%H%M%S")
    rows = con.execute(
        "SELECT table_name, day, path, rows FROM files WHERE status = 'active' AND rows < ? "
        "ORDER BY table_name, day, min_time NULLS LAST, path", [SMALL_FILE_ROWS]).fetchall()
    by_part: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for table, day, path, n in rows:
        if partitions is None or (table, day) in partitions:
            by_part.setdefault((table, day), []).append((path, n))
    report = CompactReport()
    seq = 0
    for (table, day), files in sorted(by_part.items()):
        if len(files) < MIN_FILES:
            continue
        for group in _groups(files, {p: _uncompressed_bytes(root, p) for p, _n in files}):
            seq += 1
            # the group's own partition: a 'mixed' partition's rows stay in one file (time-sorted row groups
            # and the manifest's min/max bound it), a day's stay in that day
            new = _merge(root, table, day, group, f"lake/{table}/day={day}/{run_id}-{seq:04d}-0001.parquet")
            _swap(con, group, [new], run_id)
            # Arrow's allocator keeps freed memory for reuse; give it back between groups, or the peak
            # RSS of compacting many partitions is the sum of their groups, not one group
            pa.default_memory_pool().release_unused()
            report = CompactReport(report.partitions + 1, report.files_in + len(group),
                                   report.files_out + 1, report.rows + new.rows)
    return report


def _swap(con: duckdb.DuckDBPyConnection, old: list[str], new: list[FileEntry], run_id: str) -> None:
    con.execute("BEGIN")
    try:
        insert_file_entries(con, new, run_id)
        con.register("old_files", pa.table({"path": old}))
        con.execute("UPDATE files SET status = 'retired', changed_at = ? WHERE path IN (SELECT path FROM old_files)",
                    [datetime.now(UTC)])
        con.unregister("old_files")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
