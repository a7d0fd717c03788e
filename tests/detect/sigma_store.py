"""Small stores in the schema's shape, written through the lake path (for Sigma engine tests)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.ingest import conform, new_ingest_id
from aptwatch.model.records import TableBatch
from aptwatch.model.schema import arrow_schema, event_table
from aptwatch.store import Store
from aptwatch.store.lake import PartitionWriter
from aptwatch.store.writer import SourceCommit

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def batch(table: str, rows: Sequence[Mapping[str, Any]]) -> TableBatch:
    """Rows of column values; `data` may be a dict (stored as JSON); time/record/raw default."""
    schema = arrow_schema(event_table(table))
    cols: dict[str, list[Any]] = {f.name: [] for f in schema}
    for i, r in enumerate(rows):
        r = dict(r)
        r.setdefault("time", T0 + timedelta(seconds=i))
        r.setdefault("record", i + 1)
        if isinstance(r.get("data"), dict):
            r["data"] = orjson.dumps(r["data"]).decode()
        r.setdefault("raw", orjson.dumps({k: v for k, v in r.items() if k != "time"}, default=str).decode())
        for f in schema:
            cols[f.name].append(r.get(f.name))
    owned = {"event_id", "source", "ingest_id", "table_name", "format"}
    return TableBatch(table, pa.table({k: pa.array(v, schema.field(k).type) for k, v in cols.items()
                                       if k not in owned}))


def add_source(store: Store, name: str, batches: Sequence[TableBatch], fmt: str = "test") -> str:
    """Commit one source (its own ingest run) holding the batches; returns the ingest id."""
    ingest_id = new_ingest_id()
    sha = hashlib.sha256((name + ingest_id).encode()).hexdigest()
    with store.writer("test") as w:  # files are written under the lock (recovery removes unlisted ones)
        writer = PartitionWriter(store.root, f"{ingest_id}-{sha[:16]}")
        n = 0
        for b in batches:
            t = conform(b, sha16=sha[:16], display=name, ingest_id=ingest_id, fmt=fmt)
            writer.write(b.table, t)
            n += t.num_rows
        files = tuple(writer.close())
        w.begin_ingest(ingest_id, "test")
        w.commit_sources(ingest_id, [SourceCommit(sha, name, 0, fmt, files, n, (), 0, None, None)])
        w.finish_ingest(ingest_id, 0)
    return ingest_id


def make_store(path: Path, tables: Mapping[str, Sequence[Mapping[str, Any]]], name: str = "src.evtx") -> Store:
    store = Store.open(path, create=True)
    add_source(store, name, [batch(t, rows) for t, rows in tables.items()])
    return store
