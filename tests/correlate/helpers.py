"""Synthetic findings for correlation tests (written by the project, not taken from a data set)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from aptwatch.model.finding import Finding

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def finding(rule: str, at: timedelta, tactics: Iterable[str] = (), severity: str = "medium",
            detector: str = "sigma", key: str | None = None, **entities: str | list[str]) -> Finding:
    ents: Mapping[str, str | list[str]] = entities
    return Finding.build(detector=detector, rule_id=rule, title=rule.replace("_", " "), severity=severity,
                         time=T0 + at, tactics=list(tactics), entities=dict(ents),
                         key=[rule, key or "", str(at.total_seconds()), str(sorted(ents.items()))])


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def put_events(store: object, table: str, rows: list[dict[str, object]], name: str = "events") -> list[str]:
    """Commit events to a store's lake as one source; returns their event ids (`<sha16>-<record>`)."""
    import hashlib

    import pyarrow as pa

    from aptwatch.ingest import conform, new_ingest_id
    from aptwatch.model.records import TableBatch
    from aptwatch.model.schema import arrow_schema, event_table
    from aptwatch.store import Store
    from aptwatch.store.lake import PartitionWriter
    from aptwatch.store.writer import SourceCommit

    assert isinstance(store, Store)
    schema = arrow_schema(event_table(table))
    data = {f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema
            if any(f.name in r for r in rows) or f.name in ("record", "raw")}
    data["record"] = pa.array(list(range(1, len(rows) + 1)), pa.int64())
    data["raw"] = pa.array([str(r) for r in rows], pa.string())
    sha = hashlib.sha256(f"{name}{rows}".encode()).hexdigest()
    ingest_id = new_ingest_id()
    conformed = conform(TableBatch(table, pa.table(data)), sha16=sha[:16], display=name, ingest_id=ingest_id,
                        fmt="test")
    with store.writer("test") as w:
        pw = PartitionWriter(store.root, f"{ingest_id}-{sha[:16]}")
        pw.write(table, conformed)
        files = pw.close()
        times = [r["time"] for r in rows]
        w.begin_ingest(ingest_id, "test")
        w.commit_sources(ingest_id, [SourceCommit(sha, name, 1, "test", tuple(files), len(rows), (), 0,
                                                  min(times), max(times))])  # type: ignore[type-var,arg-type]
    return [f"{sha[:16]}-{i}" for i in range(1, len(rows) + 1)]
