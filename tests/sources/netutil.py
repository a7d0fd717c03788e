"""Helpers for the network source tests: run a parser over a file, collect tables and warnings."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import HEAD_BYTES, Layer, ReadContext, Source, SourceRef


def ref_for(path: Path) -> SourceRef:
    """A SourceRef that decompresses .gz files as ingest does."""
    return SourceRef(str(path), (Layer("gzip"),) if path.name.endswith(".gz") else ())


def head_of(path: Path) -> bytes:
    with ref_for(path).open() as f:
        return f.read(HEAD_BYTES)


def run(source: Source, path: Path) -> tuple[dict[str, pa.Table], list[IngestWarning]]:
    """All batches of one source, concatenated per table, and its warnings."""
    ctx = ReadContext(ref_for(path), "0" * 64, path.stat().st_size)
    parts: dict[str, list[pa.Table]] = defaultdict(list)
    warnings: list[IngestWarning] = []
    for item in source.read(ctx):
        if isinstance(item, TableBatch):
            parts[item.table].append(item.data)
        else:
            assert isinstance(item, IngestWarning)
            warnings.append(item)
    return {t: pa.concat_tables(p, promote_options="permissive") for t, p in parts.items()}, warnings


def rows(tables: dict[str, pa.Table], table: str) -> list[dict[str, object]]:
    return tables[table].to_pylist() if table in tables else []


def count(tables: dict[str, pa.Table]) -> int:
    return sum(t.num_rows for t in tables.values())
