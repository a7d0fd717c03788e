"""Writes to a store, made only while holding its lock (see `Store.writer`).

Every method is one short transaction on the state database: the database is opened,
written and closed, so readers in other processes wait milliseconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Finding
from aptwatch.store.compact import CompactReport, compact
from aptwatch.store.lake import FileEntry, insert_file_entries

if TYPE_CHECKING:
    from aptwatch.store import Store


@dataclass(frozen=True)
class SourceCommit:
    """One fully read source, ready to become visible."""

    sha256: str
    path: str
    size: int
    format: str
    files: tuple[FileEntry, ...]
    events: int
    #: (position, reason, detail) of the warnings to store (already capped)
    warnings: tuple[tuple[int | None, str, str], ...]
    warning_count: int
    min_time: datetime | None
    max_time: datetime | None


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class StoreWriter:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- ingest -----------------------------------------------------------------------
    def known_sources(self, sha256s: Iterable[str]) -> set[str]:
        wanted = list(set(sha256s))
        if not wanted:
            return set()
        with self.store.state.connect(read_only=True) as con:
            con.register("wanted", pa.table({"sha256": wanted}))
            return {r[0] for r in con.execute("SELECT sha256 FROM sources JOIN wanted USING (sha256)").fetchall()}

    def stored_sizes(self, sizes: Iterable[int]) -> set[int]:
        """Which of these content sizes some source in the ledger has (see ingest's deferred hashing)."""
        wanted = sorted(set(sizes))
        if not wanted:
            return set()
        with self.store.state.connect(read_only=True) as con:
            return {r[0] for r in con.execute(
                "SELECT DISTINCT size FROM sources WHERE list_contains(?, size)", [wanted]).fetchall()}

    def begin_ingest(self, ingest_id: str, command: str) -> None:
        with self.store.state.connect(read_only=False) as con:
            con.execute("INSERT INTO ingests VALUES (?, ?, NULL, ?, 0, 0, 0, 0)",
                        [ingest_id, datetime.now(UTC), command])

    def commit_sources(self, ingest_id: str, commits: Sequence[SourceCommit]) -> None:
        """Make sources visible: files into the manifest, ledger rows, warnings. All or nothing."""
        if not commits:
            return
        now = datetime.now(UTC)
        with self.store.state.connect(read_only=False) as con:
            con.execute("BEGIN")
            # one statement per table for all the commits (a statement costs ~0.5 ms: per source, that was
            # most of the time of ingesting a folder of small files)
            insert_file_entries(con, [f for c in commits for f in c.files], ingest_id)
            ts = pa.timestamp("us", tz="UTC")  # bound like a parameter: TIMESTAMPTZ, cast by DuckDB
            con.register("new_sources", pa.table({
                "sha256": pa.array([c.sha256 for c in commits], pa.string()),
                "path": pa.array([c.path for c in commits], pa.string()),
                "size": pa.array([c.size for c in commits], pa.int64()),
                "format": pa.array([c.format for c in commits], pa.string()),
                "ingest_id": pa.array([ingest_id] * len(commits), pa.string()),
                "events": pa.array([c.events for c in commits], pa.int64()),
                "warnings": pa.array([c.warning_count for c in commits], pa.int64()),
                "min_time": pa.array([c.min_time for c in commits], ts),
                "max_time": pa.array([c.max_time for c in commits], ts),
                "ingested_at": pa.array([now] * len(commits), ts),
            }))
            con.execute("INSERT INTO sources SELECT * FROM new_sources ON CONFLICT DO NOTHING")
            con.unregister("new_sources")
            warn_rows = [(ingest_id, c.path, pos, reason, detail, now)
                         for c in commits for pos, reason, detail in c.warnings]
            if warn_rows:
                con.executemany("INSERT INTO warnings VALUES (?, ?, ?, ?, ?, ?)", warn_rows)
            con.execute(
                "UPDATE ingests SET sources = sources + ?, events = events + ?, warnings = warnings + ? "
                "WHERE ingest_id = ?",
                [len(commits), sum(c.events for c in commits), sum(c.warning_count for c in commits), ingest_id])
            con.execute("COMMIT")

    def record_warnings(self, ingest_id: str, rows: Sequence[tuple[str, int | None, str, str]]) -> None:
        """Warnings not tied to a committed source (unknown format, unreadable file)."""
        if not rows:
            return
        now = datetime.now(UTC)
        with self.store.state.connect(read_only=False) as con:
            con.executemany("INSERT INTO warnings VALUES (?, ?, ?, ?, ?, ?)",
                            [(ingest_id, src, pos, reason, detail, now) for src, pos, reason, detail in rows])
            con.execute("UPDATE ingests SET warnings = warnings + ? WHERE ingest_id = ?", [len(rows), ingest_id])

    def finish_ingest(self, ingest_id: str, skipped: int) -> None:
        with self.store.state.connect(read_only=False) as con:
            con.execute("UPDATE ingests SET finished_at = ?, skipped = ? WHERE ingest_id = ?",
                        [datetime.now(UTC), skipped, ingest_id])

    def compact(self, partitions: set[tuple[str, str]] | None = None) -> CompactReport:
        """Merge small lake files of these (table, day) partitions (all when None)."""
        with self.store.state.connect(read_only=False) as con:
            return compact(self.store.root, con, partitions)

    # -- detections -------------------------------------------------------------------
    def write_findings(self, findings: Sequence[Finding], run_id: str) -> int:
        """Upsert findings by id. A re-detected finding keeps its campaign assignment."""
        if not findings:
            return 0
        now = datetime.now(UTC)
        cols: dict[str, list[Any]] = {k: [] for k in (
            "id", "time", "time_last", "detector", "rule_id", "title", "severity", "tactics", "techniques", "stage",
            "entities", "evidence", "score", "description", "extra")}
        ent_rows: dict[str, list[str]] = {"finding_id": [], "kind": [], "value": []}
        seen: set[str] = set()
        for f in findings:
            if f.id in seen:
                continue
            seen.add(f.id)
            j = f.to_json()
            cols["id"].append(f.id)
            cols["time"].append(f.time)
            cols["time_last"].append(f.time_last)
            cols["detector"].append(f.detector)
            cols["rule_id"].append(f.rule_id)
            cols["title"].append(f.title)
            cols["severity"].append(f.severity.value)
            cols["tactics"].append(list(f.tactics))
            cols["techniques"].append(list(f.techniques))
            cols["stage"].append(f.stage)
            cols["entities"].append(_json(j["entities"]))
            cols["evidence"].append(_json(j["evidence"]))
            cols["score"].append(float(f.score))
            cols["description"].append(f.description)
            cols["extra"].append(_json(j["extra"]))
            for kind, values in f.entities.items():
                for v in values:
                    ent_rows["finding_id"].append(f.id)
                    ent_rows["kind"].append(kind)
                    ent_rows["value"].append(v)
        batch = pa.table({
            **{k: v for k, v in cols.items() if k not in ("time", "time_last", "tactics", "techniques")},
            "time": pa.array(cols["time"], pa.timestamp("us", tz="UTC")),
            "time_last": pa.array(cols["time_last"], pa.timestamp("us", tz="UTC")),
            "tactics": pa.array(cols["tactics"], pa.list_(pa.string())),
            "techniques": pa.array(cols["techniques"], pa.list_(pa.string())),
        })
        ents = pa.table(ent_rows, schema=pa.schema([("finding_id", pa.string()), ("kind", pa.string()),
                                                    ("value", pa.string())]))
        with self.store.state.connect(read_only=False) as con:
            con.register("new_findings", batch)
            con.register("new_entities", ents)
            con.execute("BEGIN")
            con.execute("""
                INSERT INTO findings (id, time, time_last, detector, rule_id, title, severity, tactics, techniques,
                                      stage, entities, evidence, campaign, score, description, extra, run_id,
                                      created_at)
                SELECT id, time, time_last, detector, rule_id, title, severity, tactics, techniques, stage,
                       entities, evidence, NULL, score, description, extra, $run, $now FROM new_findings
                ON CONFLICT (id) DO UPDATE SET
                    time = least(findings.time, excluded.time), time_last = greatest(findings.time_last,
                    excluded.time_last), title = excluded.title, severity = excluded.severity,
                    tactics = excluded.tactics, techniques = excluded.techniques, stage = excluded.stage,
                    entities = excluded.entities, evidence = excluded.evidence, score = excluded.score,
                    description = excluded.description, extra = excluded.extra, run_id = excluded.run_id
            """, {"run": run_id, "now": now})
            con.execute("DELETE FROM finding_entities WHERE finding_id IN (SELECT id FROM new_findings)")
            con.execute("INSERT INTO finding_entities SELECT finding_id, kind, value FROM new_entities")
            con.execute("COMMIT")
        return len(seen)

    def write_run(self, run_id: str, kind: str, started: datetime, report: Mapping[str, Any]) -> None:
        with self.store.state.connect(read_only=False) as con:
            con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?)",
                        [run_id, kind, started, datetime.now(UTC), _json(dict(report))])

    def write_campaigns(self, campaigns: Sequence[Campaign], *, replace_all: bool = False) -> None:
        """Upsert campaigns and point their findings at them."""
        now = datetime.now(UTC)
        with self.store.state.connect(read_only=False) as con:
            con.execute("BEGIN")
            if replace_all:
                con.execute("DELETE FROM campaigns")
                con.execute("UPDATE findings SET campaign = NULL WHERE campaign IS NOT NULL")
            for c in campaigns:
                j = c.to_json()
                con.execute(
                    "INSERT OR REPLACE INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [c.id, c.score, list(c.stages), c.first_seen, c.detected_at, c.last_seen, c.dwell_seconds,
                     list(c.hosts), list(c.users), list(c.findings), _json(j["attribution"]),
                     _json(j["explanation"]), c.status, now])
                if c.findings:
                    con.register("members", pa.table({"id": list(c.findings)}))
                    con.execute("UPDATE findings SET campaign = ? WHERE id IN (SELECT id FROM members)", [c.id])
                    con.unregister("members")
            con.execute("COMMIT")

    # -- analytics state (baselines and their aggregates) -------------------------------
    def read_state(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None,
                   tables: Mapping[str, pa.Table] | None = None) -> pa.Table:
        """Run a SELECT over the state database (with Arrow tables registered under their names)."""
        with self.store.state.connect(read_only=True) as con:
            for name, t in (tables or {}).items():
                con.register(name, t)
            rel = con.sql(query, params=params) if params is not None else con.sql(query)
            return rel.to_arrow_table() if rel is not None else pa.table({})

    def write_state(self, statements: Sequence[tuple[str, Sequence[Any] | Mapping[str, Any] | None]],
                    tables: Mapping[str, pa.Table] | None = None) -> None:
        """Run statements against the state database in one transaction, Arrow tables registered by name.

        Used by analytics to upsert their baselines and aggregates: all or nothing, so a run killed
        midway leaves the previous baseline intact (and its ingests not marked as folded)."""
        with self.store.state.connect(read_only=False) as con:
            for name, t in (tables or {}).items():
                con.register(name, t)
            con.execute("BEGIN")
            try:
                for sql, params in statements:
                    if params is None:
                        con.execute(sql)
                    else:
                        con.execute(sql, params)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
