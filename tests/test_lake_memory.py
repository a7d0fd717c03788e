"""Memory bounds of the lake writer and of compaction: a small day run waiting in a buffer holds its
own rows, not the whole batch it came from; compaction merges at most MERGE_BYTES at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from aptwatch.ingest import conform
from aptwatch.model.records import TableBatch
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
    mb = 1 << 20
    # 10 files of 20 MB each (uncompressed): never more than MERGE_BYTES at once
    groups = _groups(rows, {p: 20 * mb for p, _n in rows})
    assert len(groups) > 1 and all(len(g) * 20 * mb <= compact_module.MERGE_BYTES for g in groups)
    assert len({p for g in groups for p in g}) >= 9  # (a last file alone is left as it is)
    # without sizes, the row bound alone (as before)
    assert _groups(rows) == [[p for p, _n in rows]]
    big = [(f"b{i}", MERGE_ROWS // 2) for i in range(4)]
    assert _groups(big) == [["b0", "b1"], ["b2", "b3"]]
