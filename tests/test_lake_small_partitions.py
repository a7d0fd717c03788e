"""A source spanning many days writes one file per table for its small day partitions, not one per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aptwatch.ingest import conform
from aptwatch.model.records import TableBatch
from aptwatch.store.lake import MIXED_DAY, SMALL_PARTITION_ROWS, PartitionWriter


def batch(days: list[int], per_day: int, start_record: int = 0) -> TableBatch:
    base = datetime(2021, 1, 1, tzinfo=UTC)
    times = [base + timedelta(days=d, seconds=i) for d in days for i in range(per_day)]
    n = len(times)
    return TableBatch("generic", pa.table({
        "time": pa.array(times, pa.timestamp("us", tz="UTC")),
        "record": pa.array(range(start_record, start_record + n), pa.int64()),
        "raw": pa.array(["x"] * n, pa.string()),
    }))


def write(tmp_path: Path, batches: list[TableBatch]) -> list[tuple[str, int]]:
    w = PartitionWriter(tmp_path, "i-s")
    for b in batches:
        w.write(b.table, conform(b, sha16="0" * 16, display="s", ingest_id="i", fmt="t"))
    entries = w.close()
    for e in entries:  # every file is readable and holds what the manifest entry says
        assert pq.read_metadata(tmp_path / e.path).num_rows == e.rows
    return sorted((e.day, e.rows) for e in entries)


def test_small_days_share_one_file(tmp_path: Path) -> None:
    got = write(tmp_path, [batch(list(range(0, 300, 3)), 5)])  # 100 days, 5 events each
    assert got == [(MIXED_DAY, 500)]


def test_big_days_keep_their_partition(tmp_path: Path) -> None:
    big = SMALL_PARTITION_ROWS + 10
    got = write(tmp_path, [batch([0], big), batch([5, 9], 3, big)])
    assert got == [("2021-01-01", big), (MIXED_DAY, 6)]


def test_a_single_small_day_stays_a_day(tmp_path: Path) -> None:
    assert write(tmp_path, [batch([2], 7)]) == [("2021-01-03", 7)]
