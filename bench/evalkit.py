"""Shared pieces of the analytics evaluations (bench/eval_*.py): ingest a dataset into a fresh store with
the real sources, run one analytic, read its findings and the ground truth. Ground truth (labels,
dataset metadata) is read here only, never by the analytics."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

from harness import SHARED


def shared(*parts: str) -> str:
    return os.path.join(SHARED, *parts)


def fresh_store(paths: Sequence[str], work: str | None = None) -> Any:
    """A new store under `work` (or a temp dir) holding `paths`, ingested with the registered sources."""
    from aptwatch.ingest import ingest
    from aptwatch.store import Store

    root = tempfile.mkdtemp(prefix="aptwatch-eval-", dir=work)
    shutil.rmtree(root)
    store = Store.open(root, create=True)
    ingest(store, list(paths))
    return store


def run(store: Any, detectors: Iterable[str], **options: Any) -> list[dict[str, Any]]:
    """Run detectors; return the findings of that run as JSON dicts (the CLI contract)."""
    from aptwatch.detect import DETECTORS
    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.model.finding import Severity

    names = list(detectors)
    rep = run_detectors(store, DetectSettings(min_severity=Severity.INFORMATIONAL, options=dict(options)),
                        detectors=[DETECTORS[n] for n in names])
    if rep.failed:
        raise RuntimeError(rep.failed)
    import orjson

    with store.state.connect(read_only=True) as con:
        rows = con.execute("SELECT id, rule_id, severity, score, title, entities, extra, time, time_last FROM findings "
                           "WHERE run_id = ?", [rep.run_id]).fetchall()
    return [{"id": r[0], "rule_id": r[1], "severity": r[2], "score": r[3], "title": r[4],
             "entities": orjson.loads(r[5] or "{}"), "extra": orjson.loads(r[6] or "{}"), "time": r[7],
             "time_last": r[8]} for r in rows]


def query(store: Any, sql: str) -> list[dict[str, Any]]:
    with store.session() as s:
        out: list[dict[str, Any]] = s.sql(sql).to_pylist()
        return out


def host_days(store: Any, table: str = "network", host_col: str = "src_ip", where: str = "true") -> float:
    """Distinct (host, UTC day) pairs with events: the denominator of 'false positives per host-day'."""
    rows = query(store, f"SELECT count(*) AS n FROM (SELECT DISTINCT {host_col}, date_trunc('day', time) "
                        f"FROM {table} WHERE {where})")
    return float(rows[0]["n"] or 0)


def ent(f: dict[str, Any], kind: str) -> list[str]:
    v = f["entities"].get(kind)
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


def prf(tp: int, fp: int, fn: int) -> str:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    return f"precision {p:.2f}, recall {r:.2f}"
