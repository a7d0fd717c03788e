"""Helpers for the Windows source tests: run a source over a file and collect its output."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.model.schema import event_table
from aptwatch.sources.base import ReadContext, Source, SourceRef


def read_all(source: Source, path: Path) -> tuple[dict[str, pa.Table], list[IngestWarning]]:
    """Every batch of the source, concatenated per table, plus the warnings."""
    ctx = ReadContext(SourceRef(str(path)), "0" * 64, path.stat().st_size)
    parts: dict[str, list[pa.Table]] = {}
    warnings: list[IngestWarning] = []
    try:
        for item in source.read(ctx):
            if isinstance(item, TableBatch):
                for name in item.data.column_names:  # the batch is already checked against the schema
                    assert event_table(item.table).has(name)
                parts.setdefault(item.table, []).append(item.data)
            else:
                assert isinstance(item, IngestWarning)
                warnings.append(item)
    finally:
        ctx.cleanup()
    return ({t: pa.concat_tables(p, promote_options="default") for t, p in parts.items()}, warnings)


def rows(tables: dict[str, pa.Table]) -> list[dict[str, object]]:
    """All rows of all tables, with their table name, sorted by record."""
    out: list[dict[str, object]] = []
    for name, t in tables.items():
        for r in t.to_pylist():
            out.append({"table": name, **r})
    return sorted(out, key=lambda r: (r["record"], r["table"]))  # type: ignore[arg-type, return-value]


def count(tables: dict[str, pa.Table]) -> int:
    return sum(t.num_rows for t in tables.values())
