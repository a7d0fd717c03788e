"""Memory bounds of the lake writer and of compaction: a small day run waiting in a buffer holds its
own rows, not the whole batch it came from; compaction merges at most MERGE_BYTES at once, holds the
group once (contiguous columns) and writes its sorted order in bounded chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aptwatch.ingest import conform
from aptwatch.model.records import TableBatch
from aptwatch.model.schema import arrow_schema, event_table
from aptwatch.store import compact as compact_module
from aptwatch.store.compact import MERGE_ROWS, _groups
from aptwatch.store.lake import PartitionWriter


def _table(days: list[int], per_day: int, raw_bytes: int) -> pa.Table:
    base = datetime(2021, 1, 1, tzinfo=UTC)
    times = [base + timedelta(days=d, seconds=i) for d in days for i in range(per_day)]
    n = len(times)
    b = TableBatch("generic", pa.table({
        "time": pa.array(times, pa.timestamp("us", tz="UTC")),
        "record": pa.array(range(n), pa.int64()),
        "raw": pa.array(["x" * raw_bytes] * n, pa.string()),
    }))
    return conform(b, sha16="0" * 16, display="s", ingest_id="i", fmt="t")


def _buffered_bytes(w: PartitionWriter) -> dict[str, int]:
    return {day: sum(t.get_total_buffer_size() for t in parts) for (_table, day), parts in w._buffers.items()}


def test_a_small_day_run_does_not_keep_its_whole_batch_in_memory(tmp_path: Path) -> None:
    for days in ([0] * 1 + [1] * 1, [1, 0]):  # in time order, and not
        data = _table(sorted(days) if days[0] == 0 else days, 2000, 1000)  # 2 days x 2000 rows of ~1 KB
        data = pa.concat_tables([data, _table([2], 10, 1000)]).combine_chunks()  # and a small third day
        w = PartitionWriter(tmp_path, f"i-{days[0]}")
        w.write("generic", data)
        held = _buffered_bytes(w)
        whole = data.get_total_buffer_size()
        small = held["2021-01-03"]
        assert small < whole / 50, (small, whole)  # ~10 rows' worth, not the 4,010-row table
        w.abort()


def test_compaction_groups_are_bounded_by_bytes_and_rows() -> None:
    rows = [(f"f{i}", 10_000) for i in range(10)]
    size = compact_module.MERGE_BYTES // 3
    # 10 files of a third of MERGE_BYTES each (uncompressed): never more than MERGE_BYTES at once
    groups = _groups(rows, {p: size for p, _n in rows})
    assert len(groups) > 1 and all(len(g) * size <= compact_module.MERGE_BYTES for g in groups)
    assert len({p for g in groups for p in g}) >= 9  # (a last file alone is left as it is)
    # without sizes, the row bound alone (as before)
    assert _groups(rows) == [[p for p, _n in rows]]
    big = [(f"b{i}", MERGE_ROWS // 2) for i in range(4)]
    assert _groups(big) == [["b0", "b1"], ["b2", "b3"]]


def _lake_file(root: Path, rel: str, data: pa.Table, row_group_rows: int) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, root / rel, row_group_size=row_group_rows)


def test_compaction_reads_each_column_contiguous(tmp_path: Path) -> None:
    """A `take` from a chunked column concatenates the whole column on every call: with the group read
    in several chunks, writing it in sorted chunks would hold ~2 copies of the group (issue 3)."""
    parts = [_table([d], 300, 200) for d in (2, 0, 1)]
    for i, t in enumerate(parts):
        _lake_file(tmp_path, f"lake/generic/day=mixed/f{i}.parquet", t, 100)  # 3 row groups per file
    data = compact_module._read(tmp_path, "generic", [f"lake/generic/day=mixed/f{i}.parquet" for i in range(3)])
    assert data.num_rows == 900
    assert all(data.column(i).num_chunks == 1 for i in range(data.num_columns))
    assert data.schema == arrow_schema(event_table("generic"))


def test_compaction_writes_the_sorted_group_in_bounded_chunks() -> None:
    """The sorted order leaves the group a bounded chunk at a time, never as a second sorted copy."""
    data = pa.concat_tables([_table([d], 500, 1000) for d in (3, 1, 2, 0)]).combine_chunks()  # ~2 MB, unsorted
    budget = 64 << 10
    chunks = list(compact_module._chunks(data, budget))
    per_row = data.get_total_buffer_size() / data.num_rows
    assert len(chunks) > 20
    assert all(c.get_total_buffer_size() <= budget + 2 * per_row for c in chunks)
    merged = pa.concat_tables(chunks)
    assert merged.num_rows == data.num_rows
    keys = list(zip(merged.column("time").to_pylist(), merged.column("event_id").to_pylist(), strict=True))
    assert keys == sorted(keys)
    assert sorted(merged.column("event_id").to_pylist()) == sorted(data.column("event_id").to_pylist())


def test_compaction_merges_a_group_into_one_file_of_its_partition(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A `mixed` group stays in `mixed` (no re-split by day through the lake writer's buffers), written
    in several row groups when the chunk bound is small, time-sorted across them, min/max exact."""
    monkeypatch.setattr(compact_module, "CHUNK_BYTES", 256 << 10)
    paths = []
    for i, days in enumerate(([5, 1], [3], [0, 4, 2])):
        rel = f"lake/generic/day=mixed/f{i}.parquet"
        _lake_file(tmp_path, rel, _table(days, 400, 500), 1000)
        paths.append(rel)
    entry = compact_module._merge(tmp_path, "generic", "mixed", paths, "lake/generic/day=mixed/c-0001-0001.parquet")
    assert (entry.day, entry.rows) == ("mixed", 6 * 400)
    meta = pq.read_metadata(tmp_path / entry.path)
    assert meta.num_row_groups > 1
    times = pq.read_table(tmp_path / entry.path).column("time").to_pylist()
    assert times == sorted(times)
    assert (entry.min_time, entry.max_time) == (times[0], times[-1])


def test_a_failed_merge_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = []
    for i in range(2):
        rel = f"lake/generic/day=mixed/f{i}.parquet"
        _lake_file(tmp_path, rel, _table([i], 300, 200), 1000)
        paths.append(rel)

    def broken(data: pa.Table, chunk_bytes: int) -> object:
        yield data.slice(0, 10)
        raise OSError("disk full")

    monkeypatch.setattr(compact_module, "_chunks", broken)
    out = "lake/generic/day=mixed/c-0001-0001.parquet"
    with pytest.raises(OSError, match="disk full"):
        compact_module._merge(tmp_path, "generic", "mixed", paths, out)
    assert not (tmp_path / out).exists()
    assert all((tmp_path / p).exists() for p in paths)  # the inputs are untouched (still listed)
