"""Reading a file through one source, for parser tests."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import IngestSettings, ReadContext, Source, SourceRef


def read_all(source: Source, path: Path, settings: IngestSettings | None = None
             ) -> tuple[dict[str, list[dict[str, object]]], list[IngestWarning]]:
    """Rows per table (ordered by record) and warnings from reading `path` with `source`."""
    ctx = ReadContext(SourceRef(str(path)), "0" * 64, path.stat().st_size, settings or IngestSettings())
    tables: dict[str, list[pa.Table]] = {}
    warnings: list[IngestWarning] = []
    for item in source.read(ctx):
        if isinstance(item, TableBatch):
            tables.setdefault(item.table, []).append(item.data)
        else:
            assert isinstance(item, IngestWarning)
            warnings.append(item)
    rows = {name: sorted((r for t in parts for r in t.to_pylist()), key=lambda r: r["record"])
            for name, parts in tables.items()}
    return rows, warnings


def data(row: dict[str, object]) -> dict[str, object]:
    """The row's `data` JSON as a dict."""
    d = row.get("data")
    return orjson.loads(d) if isinstance(d, str) else {}


def count(rows: dict[str, list[dict[str, object]]]) -> int:
    return sum(len(v) for v in rows.values())
