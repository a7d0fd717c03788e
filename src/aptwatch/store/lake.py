"""The lake: event tables as day-partitioned Parquet files, plus the manifest that makes them visible.

Layout: `<store>/lake/<table>/day=YYYY-MM-DD/<ingest>-<source>-<n>.parquet` (`day=mixed` for a
source's small partitions written together, see SMALL_PARTITION_ROWS, and for the short day runs of a
batch whose days change every few rows, see FRAGMENTED_RUNS). Files are
written first and *then* listed in the manifest (`files` in the state database) in one
transaction. Readers only read listed files, so a write killed halfway leaves files nobody
sees; the next writer deletes them (`recover`). This is why the lake needs no rename dance
and why SIGKILL at any moment is safe. Spark reads the same files (the manifest gives the
list); see docs/architecture.md for the choice of a lake over native DuckDB tables.
"""

from __future__ import annotations

import functools
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aptwatch.concurrency import SerialWorker
from aptwatch.model.schema import arrow_schema, event_table

ROW_GROUP_ROWS = 128_000
FILE_ROWS = 2_000_000
#: bytes buffered across all partitions of one source before the largest buffers are flushed
MAX_BUFFERED_BYTES = 128 << 20
#: Parquet writers kept open at once; the least recently used is closed beyond this
MAX_OPEN_WRITERS = 32
#: background threads writing (compressing) Parquet files, each file on one of them
IO_LANES = 2
#: partitions of one source smaller than this, when a table has several, go into one file per
#: table (day 'mixed'): a Parquet file costs ~3 ms to write, and a log spanning months (a host's
#: Security.evtx, a folder of samples) would otherwise write one tiny file per day and table.
#: Readers go through the manifest, whose min_time/max_time still bound every file.
SMALL_PARTITION_ROWS = 20_000
MIXED_DAY = "mixed"
#: a write whose rows fall on more day runs than this is fragmented (a folder of samples from many days
#: merged into one log): its runs shorter than SMALL_RUN_ROWS go to the 'mixed' partition in one copy
#: (no copy when every run is short).
#: Copying a run costs ~2-3 us per column (~40-100 columns) whatever its length: on evtx-attack-samples
#: (a day change every ~10 records) one copy per run cost ~20 us per record, more than the parse.
FRAGMENTED_RUNS = 8
SMALL_RUN_ROWS = 1_000
COMPRESSION = "zstd"
#: retired files stay readable this long for readers that planned with an older manifest
RETIRE_GRACE_SECONDS = 600.0


@dataclass(frozen=True)
class FileEntry:
    """One Parquet file of the lake, as the manifest records it."""

    path: str  # relative to the store root
    table_name: str
    day: str
    rows: int
    bytes: int
    min_time: datetime | None
    max_time: datetime | None


_US_PER_DAY = 86_400_000_000
_NO_DAY = -(1 << 40)


def day_numbers(times: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Days since 1970-01-01 (UTC) per timestamp, NULL stays NULL. Integer maths: strftime per row is slow."""
    micros = pc.cast(pc.cast(times, pa.timestamp("us", tz="UTC")), pa.int64())
    return pc.divide(pc.subtract(micros, pc.if_else(pc.less(micros, 0), _US_PER_DAY - 1, 0)), _US_PER_DAY)


def day_label(day_number: int | None) -> str:
    if day_number is None:
        return "unknown"
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day_number)).strftime("%Y-%m-%d")


def _dictionary_columns(table: str) -> list[str]:
    """Dictionary-encode everything but the per-event unique text (trying costs time and gives nothing)."""
    return [c for c in event_table(table).column_names if c not in ("event_id", "raw", "data", "record")]


def _statistics_columns(table: str) -> list[str]:
    """Min/max statistics where they prune (time, hosts, codes), not on raw text."""
    return [c for c in event_table(table).column_names if c not in ("raw", "data")]


TimeBounds = tuple[datetime | None, datetime | None]


def widen_time_bounds(bounds: TimeBounds, times: pa.Array | pa.ChunkedArray) -> TimeBounds:
    """(min, max) of `bounds` and `times` together; NULL times do not count (None while none is known)."""
    mm = pc.min_max(times).as_py()
    lo, hi = bounds
    if mm["min"] is None:
        return lo, hi
    return (mm["min"] if lo is None else min(lo, mm["min"]), mm["max"] if hi is None else max(hi, mm["max"]))


def open_lake_file(path: Path, table: str) -> pq.ParquetWriter:
    """A Parquet writer for one lake file of `table`, with the lake's settings (codec, dictionary and
    statistics columns). Its directory is made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return pq.ParquetWriter(path, arrow_schema(event_table(table)), compression=COMPRESSION,
                            use_dictionary=_dictionary_columns(table), write_statistics=_statistics_columns(table))


def _copy_rows(data: pa.Table, a: int, b: int) -> pa.Table:
    """Rows a..b of `data` in buffers of their own: one contiguous copy per column (a `take` of a range
    gathers row by row, ~3x the CPU for the same bytes)."""
    cols = [pa.concat_arrays(data.column(i).slice(a, b - a).chunks) if data.column(i).num_chunks
            else data.column(i).slice(a, b - a) for i in range(data.num_columns)]
    return pa.Table.from_arrays(cols, schema=data.schema)


class PartitionWriter:
    """Streams conformed batches of one source into per-(table, day) Parquet files.

    Batches are buffered per partition and written as row groups of ~ROW_GROUP_ROWS rows;
    a file rolls over at FILE_ROWS. Memory stays bounded for sources spanning many days: past
    MAX_BUFFERED_BYTES the largest buffers are written early, and past MAX_OPEN_WRITERS the least
    recently used file is closed (a later batch for its day starts a new file; compaction merges).
    `close()` returns the entries to commit.
    """

    def __init__(self, root: Path, stem: str | Callable[[], str]) -> None:
        """`stem` names the files (a call: asked when the first file is made, e.g. once a hash computed
        beside the parse is known). Small day runs are copied out of the batch they came in (see `write`).
        (Compaction, which used zero-copy slices of a whole sorted group here, writes its own file now:
        store/compact.py.)"""
        self.root = root
        self._stem = stem
        self._writers: OrderedDict[tuple[str, str], pq.ParquetWriter] = OrderedDict()
        self._paths: dict[tuple[str, str], str] = {}
        self._buffers: dict[tuple[str, str], list[pa.Table]] = {}
        self._buffered: dict[tuple[str, str], int] = {}
        self._bytes: dict[tuple[str, str], int] = {}
        self._total_bytes = 0
        self._rows: dict[tuple[str, str], int] = {}
        self._minmax: dict[tuple[str, str], tuple[datetime | None, datetime | None]] = {}
        self._seq = 0
        self._done: list[FileEntry] = []
        # Compression runs in background threads while the parser works on the next batch: one lane per file
        # (its row groups stay in order), files spread over IO_LANES lanes. At `close` the partitions still
        # buffered (up to MAX_BUFFERED_BYTES) are written at once; one lane made that tail serial.
        self._lanes = [SerialWorker() for _ in range(IO_LANES)]
        self._lane: dict[tuple[str, str], SerialWorker] = {}

    def write(self, table: str, data: pa.Table) -> None:
        if not data.num_rows:
            return
        days = day_numbers(data.column("time"))
        uniq = pc.unique(days).to_pylist()
        if len(uniq) == 1:
            self._buffer((table, day_label(uniq[0])), data, data.get_total_buffer_size())
            return
        # Several days: runs of days (logs are mostly in time order: sorted only when they are not; a filter
        # per day would copy once per day), the main run zero-copy, the others copied (see below).
        keys = pc.fill_null(days, _NO_DAY).to_numpy(zero_copy_only=False)
        n = data.num_rows
        if np.all(keys[1:] >= keys[:-1]):
            order, sorted_keys = None, keys
        else:
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(sorted_keys)]
        # bytes of a zero-copy run: its share of the table's buffers (`nbytes` of a slice walks every
        # column's offsets, ~2 us per column per slice: more than the rest of the write)
        per_row = data.get_total_buffer_size() / n
        runs = list(zip(starts.tolist(), ends.tolist(), strict=True))
        if len(runs) > FRAGMENTED_RUNS:
            small = [(a, b) for a, b in runs if b - a < SMALL_RUN_ROWS]
            if len(small) == len(runs):  # only short runs: the table as it is, no copy
                self._buffer((table, MIXED_DAY), data, data.get_total_buffer_size())
                return
            if len(small) > 1:
                # one copy of every short run, in day order, into the partition they would mostly end in
                # anyway (`_coalesce_small`); the manifest's min/max time still bound the file
                rows = np.concatenate([order[a:b] if order is not None else np.arange(a, b) for a, b in small])
                part = data.take(pa.array(rows))
                self._buffer((table, MIXED_DAY), part, part.get_total_buffer_size())
                runs = [(a, b) for a, b in runs if b - a >= SMALL_RUN_ROWS]
        for a, b in runs:
            k = int(sorted_keys[a])
            key = (table, day_label(None if k == _NO_DAY else k))
            if order is None and 2 * (b - a) >= n:
                self._buffer(key, data.slice(a, b - a), int(per_row * (b - a)))  # most of the table: zero-copy
            else:
                # A copy of the run's rows (each row is copied once in all): a slice would keep the whole
                # table in memory for as long as the run waits in its buffer (a small day partition waits
                # until `close`), and a batch of many sources would pile up such tables.
                part = data.take(pa.array(order[a:b])) if order is not None else _copy_rows(data, a, b)
                self._buffer(key, part, part.get_total_buffer_size())

    def _buffer(self, key: tuple[str, str], data: pa.Table, size: int) -> None:
        """Queue `data` (about `size` bytes) for its partition; flush what is over the bounds."""
        self._buffers.setdefault(key, []).append(data)
        self._buffered[key] = self._buffered.get(key, 0) + data.num_rows
        self._bytes[key] = self._bytes.get(key, 0) + size
        self._total_bytes += size
        if self._buffered[key] >= ROW_GROUP_ROWS:
            self._flush(key)
        while self._total_bytes > MAX_BUFFERED_BYTES and self._bytes:
            self._flush(max(self._bytes, key=self._bytes.__getitem__))

    def _flush(self, key: tuple[str, str]) -> None:
        parts = self._buffers.pop(key, [])
        self._buffered.pop(key, None)
        self._total_bytes -= self._bytes.pop(key, 0)
        if not parts:
            return
        data = pa.concat_tables(parts)
        writer = self._writers.get(key)
        if writer is not None:
            self._writers.move_to_end(key)
        else:
            if len(self._writers) >= MAX_OPEN_WRITERS:
                self._close(next(iter(self._writers)))
            table, day = key
            self._seq += 1
            if not isinstance(self._stem, str):
                self._stem = self._stem()
            rel = f"lake/{table}/day={day}/{self._stem}-{self._seq:04d}.parquet"
            writer = open_lake_file(self.root / rel, table)
            self._writers[key] = writer
            self._lane[key] = self._lanes[self._seq % len(self._lanes)]
            self._paths[key] = rel
            self._rows[key] = 0
            self._minmax[key] = (None, None)
        self._lane[key].submit(functools.partial(writer.write_table, data, row_group_size=ROW_GROUP_ROWS))
        self._rows[key] += data.num_rows
        self._minmax[key] = widen_time_bounds(self._minmax[key], data.column("time"))
        if self._rows[key] >= FILE_ROWS:
            self._close(key)

    def _close(self, key: tuple[str, str]) -> None:
        writer = self._writers.pop(key)
        self._lane.pop(key).submit(writer.close)
        rel = self._paths.pop(key)
        lo, hi = self._minmax.pop(key)
        self._done.append(FileEntry(rel, key[0], key[1], self._rows.pop(key), -1, lo, hi))

    def close(self) -> list[FileEntry]:
        self._coalesce_small()
        for key in list(self._buffers):
            self._flush(key)
        for key in list(self._writers):
            self._close(key)
        self._join()
        done = [FileEntry(e.path, e.table_name, e.day, e.rows, (self.root / e.path).stat().st_size, e.min_time,
                          e.max_time) for e in self._done]
        self._done = []
        return done

    def _coalesce_small(self) -> None:
        """Move partitions never flushed and smaller than SMALL_PARTITION_ROWS into one 'mixed'
        partition per table (in day order), when a table has more than one of them."""
        small: dict[str, list[tuple[str, str]]] = {}
        for key, rows in self._buffered.items():
            if key not in self._writers and key[1] != MIXED_DAY and rows < SMALL_PARTITION_ROWS:
                small.setdefault(key[0], []).append(key)
        for table, keys in small.items():
            if len(keys) < 2:
                continue
            for key in sorted(keys, key=lambda k: k[1]):
                parts = self._buffers.pop(key)
                rows = self._buffered.pop(key)
                size = self._bytes.pop(key, 0)
                self._total_bytes -= size
                for part in parts:
                    self._buffer((table, MIXED_DAY), part, size * part.num_rows // max(rows, 1))

    def _join(self) -> None:
        """Wait for every lane; the first error re-raises (after all lanes stopped)."""
        errors: list[BaseException] = []
        for lane in self._lanes:
            try:
                lane.join()
            except BaseException as e:  # re-raised below, once every lane has stopped
                errors.append(e)
        if errors:
            raise errors[0]

    def abort(self) -> None:
        """Close and delete everything written (the source failed)."""
        for key in list(self._writers):
            w = self._writers.pop(key)
            self._lane.pop(key).submit(w.close)
        try:
            self._join()
        finally:
            for rel in list(self._paths.values()) + [e.path for e in self._done]:
                (self.root / rel).unlink(missing_ok=True)
            self._paths.clear()
            self._done.clear()


def insert_file_entries(con: duckdb.DuckDBPyConnection, entries: Iterable[FileEntry], ingest_id: str) -> None:
    """List files in the manifest (one statement: DuckDB's `executemany` runs one per row, ~0.5 ms each)."""
    now = datetime.now(UTC)
    es = list(entries)
    if not es:
        return
    ts = pa.timestamp("us", tz="UTC")  # as a bound datetime parameter: TIMESTAMPTZ, cast by DuckDB
    con.register("new_files", pa.table({
        "path": pa.array([e.path for e in es], pa.string()),
        "table_name": pa.array([e.table_name for e in es], pa.string()),
        "day": pa.array([e.day for e in es], pa.string()),
        "rows": pa.array([e.rows for e in es], pa.int64()),
        "bytes": pa.array([e.bytes for e in es], pa.int64()),
        "min_time": pa.array([e.min_time for e in es], ts),
        "max_time": pa.array([e.max_time for e in es], ts),
        "ingest_id": pa.array([ingest_id] * len(es), pa.string()),
        "status": pa.array(["active"] * len(es), pa.string()),
        "changed_at": pa.array([now] * len(es), ts),
    }))
    try:
        con.execute("INSERT INTO files SELECT * FROM new_files")
    finally:
        con.unregister("new_files")


def recover(root: Path, con: duckdb.DuckDBPyConnection, grace: float = RETIRE_GRACE_SECONDS) -> dict[str, int]:
    """Delete unlisted files (unfinished writes) and retired files past their grace period."""
    listed = {p for (p,) in con.execute("SELECT path FROM files").fetchall()}
    removed = 0
    lake = root / "lake"
    if lake.exists():
        for dirpath, _dirs, names in os.walk(lake):
            for name in names:
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                if rel not in listed:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
    cutoff = datetime.fromtimestamp(time.time() - grace, UTC)
    old = [p for (p,) in con.execute(
        "SELECT path FROM files WHERE status = 'retired' AND changed_at < ?", [cutoff]).fetchall()]
    for rel in old:
        (root / rel).unlink(missing_ok=True)
    if old:
        con.execute("DELETE FROM files WHERE status = 'retired' AND changed_at < ?", [cutoff])
    return {"unlisted_removed": removed, "retired_removed": len(old)}
