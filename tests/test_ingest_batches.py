"""Ingest reads small sources in batches (one set of lake files per batch): fewer files, the same
events, and a failing parser still costs only its own source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aptwatch import ingest as ingest_module
from aptwatch.ingest import Candidate, ingest, plan_batches
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources import SOURCES
from aptwatch.sources.base import ReadContext, SourceRef
from aptwatch.store import Store
from tests.fixtures import make_jsonl


def _cand(name: str, size: int) -> Candidate:
    return Candidate(SourceRef(name), size, name.ljust(64, "0"), "jsonl")


def test_plan_batches_groups_small_sources_and_keeps_large_ones_alone() -> None:
    mb = 1 << 20
    small = [_cand(f"s{i}", 10 * mb) for i in range(20)]
    big = _cand("big", 900 * mb)
    batches = plan_batches([*small, big], workers=2)
    assert sorted(c.ref.path for b in batches for c in b) == sorted(c.ref.path for c in [*small, big])
    assert batches[0] == [big]  # largest first, and over the target: alone
    assert all(sum(c.size for c in b) <= 550 * mb for b in batches[1:])
    # a folder of small files: about one batch per worker (so a few files per table, not one per source)
    assert len(plan_batches(small, workers=2)) == 2
    assert len(plan_batches(small, workers=1)) == 1
    # never more than BATCH_MAX_BYTES per batch
    many = [_cand(f"m{i}", 100 * mb) for i in range(40)]
    assert all(sum(c.size for c in b) <= ingest_module.BATCH_MAX_BYTES for b in plan_batches(many, workers=1))


def _lake_files(store: Store, status: str = "active") -> set[str]:
    """Lake files the state DB lists with `status` ('%' for any: compaction retires small files and
    deletes them later)."""
    with store.state.connect() as con:
        return {p for (p,) in con.execute("SELECT path FROM files WHERE status LIKE ?", [status]).fetchall()}


def test_a_batch_of_sources_writes_one_set_of_files(tmp_path: Path, store_dir: Path) -> None:
    files = [make_jsonl(tmp_path / f"s{i}.jsonl", 200, seed=i) for i in range(6)]
    store = Store.open(store_dir, create=True)
    report = ingest(store, files, workers=1)
    assert (report.sources, report.events, report.failed, report.compacted) == (6, 1200, 0, 0)
    assert len(_lake_files(store)) == 1
    with store.session(with_state=True) as s:
        per_source = s.sql("SELECT path, events FROM sources ORDER BY path").to_pylist()
        ids = s.sql("SELECT count(DISTINCT event_id) FROM generic").column(0)[0].as_py()
    assert [r["events"] for r in per_source] == [200] * 6 and ids == 1200
    again = ingest(store, files, workers=1)  # idempotent: every source of the batch is known
    assert (again.skipped, again.events) == (6, 0)


def test_a_failing_parser_costs_only_its_source(tmp_path: Path, store_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    files = [make_jsonl(tmp_path / f"s{i}.jsonl", 200, seed=i) for i in range(5)]
    jsonl = SOURCES["jsonl"]
    original = type(jsonl).read

    def read(self: object, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        for item in original(jsonl, ctx):
            yield item
            if ctx.ref.path.endswith("s3.jsonl"):  # after its rows went into the batch's writer
                raise RuntimeError("a parser bug")

    monkeypatch.setattr(type(jsonl), "read", read)
    store = Store.open(store_dir, create=True)
    report = ingest(store, files, workers=1)
    assert (report.sources, report.failed, report.events) == (4, 1, 800)
    with store.session(with_state=True) as s:
        reasons = s.sql("SELECT source, reason, detail FROM warnings").to_pylist()
        stored = s.sql("SELECT count(*) FROM generic").column(0)[0].as_py()
    assert stored == 800
    assert [(Path(r["source"]).name, r["reason"]) for r in reasons] == [("s3.jsonl", "parser_error")]
    assert "a parser bug" in reasons[0]["detail"]
    on_disk = {str(p.relative_to(store_dir)) for p in (store_dir / "lake").rglob("*.parquet")}
    assert on_disk == _lake_files(store, '%')  # the aborted batch left no file behind
