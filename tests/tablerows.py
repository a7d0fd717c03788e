"""Put hand-written rows into a store, in the shape of an event table, as if a parser had read them.

For tests of stages downstream of parsers other helpers build (Windows auth / Sysmon network,
Zeek dns / dhcp / notice, Suricata EVE): rows go through the same conform -> Parquet -> manifest
commit path as ingest, under a real ingest run, so ingest ids, event ids and the address-context
update behave as in production.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.context.addresses import update_host_addresses
from aptwatch.ingest import conform, new_ingest_id
from aptwatch.model.records import RowBuffer
from aptwatch.store import Store
from aptwatch.store.lake import PartitionWriter
from aptwatch.store.writer import SourceCommit


def put_rows(store: Store, table: str, rows: Sequence[Mapping[str, Any]], *, name: str = "fixture",
             fmt: str = "fixture", update_context: bool = True) -> str:
    """Commit `rows` (dicts of column -> value; `time`, `record`, `raw` required) as one source; returns
    the ingest id."""
    buf = RowBuffer(batch_rows=10**9)
    for r in rows:
        buf.add(table, r)
    (batch,) = list(buf.flush())
    sha = hashlib.sha256(name.encode() + orjson.dumps(list(rows), default=str)).hexdigest()
    ingest_id = new_ingest_id()
    with store.writer("test") as w:
        w.begin_ingest(ingest_id, "test")
        pw = PartitionWriter(Path(store.root), f"{ingest_id}-{sha[:16]}")
        data = conform(batch, sha16=sha[:16], display=name, ingest_id=ingest_id, fmt=fmt)
        pw.write(table, data)
        files = pw.close()
        mm = pc.min_max(data.column("time")).as_py()
        w.commit_sources(ingest_id, [SourceCommit(sha, name, 0, fmt, tuple(files), data.num_rows, (), 0,
                                                  mm["min"], mm["max"])])
        w.finish_ingest(ingest_id, 0)
        if update_context:
            update_host_addresses(store)
    return ingest_id


def table_rows(store: Store, sql: str) -> list[dict[str, Any]]:
    with store.session(with_state=True) as s:
        result: pa.Table = s.sql(sql)
    return result.to_pylist()


def needs_source(name: str) -> None:
    """Skip (with the reason) when a source another helper builds is not registered in this checkout yet."""
    import pytest

    from aptwatch.sources import SOURCES

    if name not in SOURCES.names():
        pytest.skip(f"needs the {name} source (not merged into this checkout yet)")
