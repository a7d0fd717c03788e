"""Compaction: merge a partition's small Parquet files into few large, time-sorted ones.

Every source writes its own files, so a folder of 300 EVTX files makes hundreds of small
files per day, and daily ingests keep adding more. Scans pay per file; pruning works best on
time-sorted row groups. Compaction runs after each ingest over the partitions it touched:
small files are read, sorted by time, written as new files, and swapped in the manifest in
one transaction (old files retired; `recover` deletes them after a grace period, so a reader
that planned with the old manifest still finds them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from aptwatch.model.schema import arrow_schema, event_table
from aptwatch.store.lake import FileEntry, PartitionWriter, insert_file_entries

#: files with fewer rows are merge candidates
SMALL_FILE_ROWS = 250_000
#: rows merged into one output file at most (bounds memory: the group is read whole)
MERGE_ROWS = 1_000_000
#: uncompressed bytes (Parquet metadata) merged at once at most: wide rows (Windows events carry their
#: `raw` record and `data`, ~1.5-3 KB a row) would otherwise put up to ~3 GB in memory for MERGE_ROWS
MERGE_BYTES = 64 << 20
#: a partition is compacted when it has at least this many small files
MIN_FILES = 4


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
    """Read files written by any schema version and conform them to the current one."""
    schema = arrow_schema(event_table(table))
    parts = []
    for p in paths:
        t = pq.read_table(root / p)
        cols = [t.column(f.name).cast(f.type) if f.name in t.column_names else pa.nulls(t.num_rows, f.type)
                for f in schema]
        parts.append(pa.Table.from_arrays(cols, schema=schema))
    return pa.concat_tables(parts)


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
    for (table, _day), files in sorted(by_part.items()):
        if len(files) < MIN_FILES:
            continue
        for group in _groups(files, {p: _uncompressed_bytes(root, p) for p, _n in files}):
            seq += 1
            data = _read(root, table, group)
            data = data.sort_by([("time", "ascending"), ("event_id", "ascending")])
            writer = PartitionWriter(root, f"{run_id}-{seq:04d}", slice_runs=True)  # `data` lives until close
            try:
                writer.write(table, data)
                new = writer.close()
            except BaseException:
                writer.abort()
                raise
            _swap(con, group, new, run_id)
            rows = data.num_rows
            del data
            # Arrow's allocator keeps freed memory for reuse; give it back between groups, or the peak
            # RSS of compacting many partitions is the sum of their groups, not one group
            pa.default_memory_pool().release_unused()
            report = CompactReport(report.partitions + 1, report.files_in + len(group),
                                   report.files_out + len(new), report.rows + rows)
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
