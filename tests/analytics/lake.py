"""Write schema-shaped Arrow tables into a store through the lake, as an ingest would.

Analytics tests build small event tables themselves (the parsers are tested elsewhere) and
commit them with the same code path ingest uses: `conform`, `PartitionWriter`, `commit_sources`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import DetectReport, run_detectors
from aptwatch.ingest import conform
from aptwatch.model.finding import Finding, Severity
from aptwatch.model.records import TableBatch
from aptwatch.model.schema import event_table
from aptwatch.store import Store
from aptwatch.store.lake import PartitionWriter
from aptwatch.store.writer import SourceCommit


def ts(value: float | str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.fromtimestamp(value, UTC)


def to_table(table: str, records: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Records (dicts of schema columns) -> Arrow table typed by the schema."""
    t = event_table(table)
    names: list[str] = []
    for r in records:
        for k in r:
            if k not in names:
                names.append(k)
    for req in ("time", "record", "raw"):
        if req not in names:
            names.append(req)
    cols = {}
    for n in names:
        col = t.column(n)
        vals = []
        for i, r in enumerate(records):
            v = r.get(n)
            if n == "time":
                v = ts(v)
            elif n == "record" and v is None:
                v = i + 1
            elif n == "raw" and v is None:
                v = ""
            vals.append(v)
        cols[n] = pa.array(vals, col.arrow_type)
    return pa.table(cols)


def write(store: Store, tables: Mapping[str, Sequence[Mapping[str, Any]] | pa.Table], *, source: str | None = None,
          fmt: str = "synthetic") -> str:
    """Commit one source holding `tables` as one ingest run; returns the ingest id."""
    ingest_id = f"i{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    source = source or f"synthetic-{uuid.uuid4().hex[:8]}.log"
    sha = hashlib.sha256(source.encode()).hexdigest()
    with store.writer("test") as w:  # the lock first: a writer deletes lake files not in the manifest
        pw = PartitionWriter(store.root, f"{ingest_id}-{sha[:12]}")
        n = 0
        lo = hi = None
        for name, data in tables.items():
            arrow = data if isinstance(data, pa.Table) else to_table(name, data)
            if not arrow.num_rows:
                continue
            conformed = conform(TableBatch(name, arrow), sha16=sha[:16], display=source, ingest_id=ingest_id,
                                fmt=fmt)
            pw.write(name, conformed)
            n += conformed.num_rows
            times = [t for t in conformed.column("time").to_pylist() if t is not None]
            if times:
                lo = min(times) if lo is None else min(lo, *times)
                hi = max(times) if hi is None else max(hi, *times)
        files = pw.close()
        w.begin_ingest(ingest_id, "test")
        w.commit_sources(ingest_id, [SourceCommit(sha, source, 0, fmt, tuple(files), n, (), 0, lo, hi)])
        w.finish_ingest(ingest_id, 0)
    return ingest_id


def detect(store: Store, only: Sequence[str], **options: Any) -> tuple[list[Finding], DetectReport]:
    """Run some detectors; return the findings they stored in this run, and the report."""
    from aptwatch.detect import DETECTORS

    settings = DetectSettings(only=tuple(only), options=dict(options), min_severity=Severity.INFORMATIONAL)
    report = run_detectors(store, settings, detectors=[DETECTORS[n] for n in only])
    assert not report.failed, report.failed
    return stored_findings(store, report.run_id), report


def stored_findings(store: Store, run_id: str | None = None) -> list[Finding]:
    import orjson

    from aptwatch.model.finding import Evidence, Severity, entities_from_json

    with store.state.connect(read_only=True) as con:
        q = "SELECT * FROM findings" + (" WHERE run_id = ?" if run_id else "") + " ORDER BY id"
        rel = con.execute(q, [run_id] if run_id else [])
        cols = [d[0] for d in rel.description]
        out = []
        for row in rel.fetchall():
            r = dict(zip(cols, row, strict=True))
            out.append(Finding(
                id=r["id"], time=r["time"], time_last=r["time_last"], detector=r["detector"], rule_id=r["rule_id"],
                title=r["title"], severity=Severity.parse(r["severity"]), tactics=tuple(r["tactics"] or ()),
                techniques=tuple(r["techniques"] or ()), stage=r["stage"],
                entities=entities_from_json(orjson.loads(r["entities"] or "{}")),
                evidence=tuple(Evidence.from_json(e) for e in orjson.loads(r["evidence"] or "[]")),
                score=r["score"] or 0.0, description=r["description"] or "",
                extra=orjson.loads(r["extra"] or "{}")))
        return out
