"""A source spanning many days writes one file per table for its small day partitions, not one per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aptwatch.ingest import conform
from aptwatch.model.records import TableBatch
from aptwatch.store.lake import FRAGMENTED_RUNS, MIXED_DAY, SMALL_PARTITION_ROWS, SMALL_RUN_ROWS, PartitionWriter


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


def test_a_fragmented_write_copies_its_short_runs_once_into_mixed(tmp_path: Path) -> None:
    """A batch whose days change every few rows (samples from many days merged into one log) sends its
    short runs to 'mixed' in one copy, in day order, and still keeps a big day's partition."""
    big = SMALL_PARTITION_ROWS + 10
    short = batch(list(range(1, 3 * (FRAGMENTED_RUNS + 5), 3)), 4)  # FRAGMENTED_RUNS + 5 days, 4 rows each
    shuffled = short.data.take(pa.array([i for k in range(4) for i in range(k, short.data.num_rows, 4)]))
    data = pa.concat_tables([batch([0], big, 10_000).data, shuffled]).combine_chunks()  # not in time order
    w = PartitionWriter(tmp_path, "i-s")
    w.write("generic", conform(TableBatch("generic", data), sha16="0" * 16, display="s", ingest_id="i", fmt="t"))
    # the short runs are buffered as ONE part of the mixed partition (one copy, not one per run), in day order
    (part,) = w._buffers[("generic", MIXED_DAY)]
    assert part.num_rows == short.data.num_rows
    times = part.column("time").to_pylist()
    assert [t.date() for t in times] == sorted(t.date() for t in times)
    assert part.get_total_buffer_size() < data.get_total_buffer_size() / 50  # its own rows, not the batch's
    entries = w.close()
    assert sorted((e.day, e.rows) for e in entries) == [("2021-01-01", big), (MIXED_DAY, short.data.num_rows)]
    mixed = next(e for e in entries if e.day == MIXED_DAY)
    assert pq.read_table(tmp_path / mixed.path).num_rows == short.data.num_rows


def test_a_few_day_changes_keep_their_day_partitions(tmp_path: Path) -> None:
    """A time-ordered log crossing midnight in a batch is not fragmented: a long day run keeps its day."""
    n = SMALL_PARTITION_ROWS + SMALL_RUN_ROWS
    got = write(tmp_path, [batch([0], n), batch([1], 5, n)])
    assert got == [("2021-01-01", n), ("2021-01-02", 5)]


def test_a_write_of_only_short_runs_goes_to_mixed_without_a_copy(tmp_path: Path) -> None:
    data = conform(batch(list(range(0, 2 * (FRAGMENTED_RUNS + 3), 2)), 3), sha16="0" * 16, display="s",
                   ingest_id="i", fmt="t")
    w = PartitionWriter(tmp_path, "i-s")
    w.write("generic", data)
    (part,) = w._buffers[("generic", MIXED_DAY)]
    assert part is data
    assert [(e.day, e.rows) for e in w.close()] == [(MIXED_DAY, data.num_rows)]
