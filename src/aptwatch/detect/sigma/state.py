"""Retro-hunt state: which (rule version, ingest run, table) pairs were evaluated, and the matches.

`sigma_evaluated` is the ledger: a detect run evaluates a rule over an ingest run's events
only when no ledger row covers that pair within the requested time bounds, so incremental
runs evaluate new rules x old events and all rules x new events, nothing else.
`sigma_matches` keeps every match (one row per rule x event; idempotent on re-evaluation),
from which findings, prevalence and correlation rules are computed. A rule whose version
(hash) changed loses its old matches and ledger rows and is evaluated again over everything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import pyarrow as pa

from aptwatch.detect.sigma.compiler import CompiledRule
from aptwatch.store.writer import StoreWriter

Pair = tuple[str, str, str]  # (rule uid, table, ingest id)


def _covers(lo: datetime | None, hi: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if lo is not None and (since is None or lo > since):
        return False
    return not (hi is not None and (until is None or hi < until))


def evaluated(writer: StoreWriter, rules: Sequence[CompiledRule], since: datetime | None,
              until: datetime | None) -> set[Pair]:
    """Pairs already evaluated by the current version of each rule, covering [since, until]."""
    if not rules:
        return set()
    wanted = pa.table({"rule_id": [r.uid for r in rules], "rule_hash": [r.hash for r in rules]})
    rows = writer.read_state(
        "SELECT e.rule_id, e.table_name, e.ingest_id, e.since, e.until FROM sigma_evaluated e "
        "JOIN __wanted w ON e.rule_id = w.rule_id AND e.rule_hash = w.rule_hash", tables={"__wanted": wanted})
    out: set[Pair] = set()
    for rid, table, ingest, lo, hi in zip(*(rows.column(i).to_pylist() for i in range(5)), strict=True):
        if _covers(lo, hi, since, until):
            out.add((rid, table, ingest))
    return out


def plan(rules_by_table: Mapping[str, Sequence[CompiledRule]], ingests: Mapping[str, Sequence[str]],
         done: set[Pair]) -> list[tuple[str, tuple[str, ...], list[CompiledRule]]]:
    """(table, ingest ids, rules) work units: rules grouped by the ingest runs they still need."""
    units: list[tuple[str, tuple[str, ...], list[CompiledRule]]] = []
    for table, rules in rules_by_table.items():
        groups: dict[tuple[str, ...], list[CompiledRule]] = defaultdict(list)
        for r in rules:
            todo = tuple(sorted(i for i in ingests.get(table, ()) if (r.uid, table, i) not in done))
            if todo:
                groups[todo].append(r)
        units.extend((table, todo, rs) for todo, rs in groups.items())
    return units


#: events of one table evaluated per query at most (several ingest runs are grouped up to it)
CHUNK_ROWS = 2_000_000


def chunk(units: list[tuple[str, tuple[str, ...], list[CompiledRule]]], rows: Mapping[tuple[str, str], int],
          limit: int) -> list[tuple[str, tuple[str, ...], list[CompiledRule]]]:
    """Split work units so that each covers at most `limit` events (an ingest run is never split)."""
    out: list[tuple[str, tuple[str, ...], list[CompiledRule]]] = []
    for table, ingests, rules in units:
        part: list[str] = []
        size = 0
        for i in ingests:
            n = rows.get((table, i), 0)
            if part and size + n > limit:
                out.append((table, tuple(part), rules))
                part, size = [], 0
            part.append(i)
            size += n
        if part:
            out.append((table, tuple(part), rules))
    return out


def forget_old_versions(writer: StoreWriter, rules: Sequence[CompiledRule]) -> list[str]:
    """Delete matches and ledger rows of earlier versions of these rules; their uids, if any."""
    if not rules:
        return []
    cur = pa.table({"rule_id": [r.uid for r in rules], "rule_hash": [r.hash for r in rules]})
    stale = writer.read_state(
        "SELECT DISTINCT m.rule_id FROM sigma_matches m JOIN __cur c USING (rule_id) WHERE m.rule_hash <> c.rule_hash "
        "UNION SELECT DISTINCT e.rule_id FROM sigma_evaluated e JOIN __cur c USING (rule_id) "
        "WHERE e.rule_hash <> c.rule_hash", tables={"__cur": cur}).column(0).to_pylist()
    if stale:
        writer.write_state([
            ("DELETE FROM sigma_matches WHERE rule_id IN (SELECT rule_id FROM __cur) AND "
             "rule_hash <> (SELECT c.rule_hash FROM __cur c WHERE c.rule_id = sigma_matches.rule_id)", None),
            ("DELETE FROM sigma_evaluated WHERE rule_id IN (SELECT rule_id FROM __cur) AND "
             "rule_hash <> (SELECT c.rule_hash FROM __cur c WHERE c.rule_id = sigma_evaluated.rule_id)", None),
        ], tables={"__cur": cur})
    return [str(s) for s in stale]


def record(writer: StoreWriter, table: str, ingests: Iterable[str], rules: Sequence[CompiledRule],
           matches: pa.Table, since: datetime | None, until: datetime | None, run_id: str,
           fields: pa.Table | None = None) -> None:
    """Store a work unit's matches and mark its (rule, ingest) pairs evaluated, in one transaction."""
    ingest_list = list(ingests)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for rid, ing in zip(matches.column("rule").to_pylist(), matches.column("ingest_id").to_pylist(), strict=True):
        counts[(rid, ing)] += 1
    now = datetime.now(UTC)
    ledger = pa.table({
        "rule_id": [r.uid for r in rules for _ in ingest_list],
        "rule_hash": [r.hash for r in rules for _ in ingest_list],
        "table_name": [table] * (len(rules) * len(ingest_list)),
        "ingest_id": [i for _ in rules for i in ingest_list],
        "since": pa.array([since] * (len(rules) * len(ingest_list)), pa.timestamp("us", tz="UTC")),
        "until": pa.array([until] * (len(rules) * len(ingest_list)), pa.timestamp("us", tz="UTC")),
        "matches": [counts.get((r.uid, i), 0) for r in rules for i in ingest_list],
    })
    hashes = pa.table({"rule": [r.uid for r in rules], "rule_hash": [r.hash for r in rules]})
    tables = {"__ledger": ledger, "__m": matches, "__h": hashes}
    field_join = ""
    field_sel = "NULL"
    if fields is not None and fields.num_rows:
        tables["__f"] = fields
        field_join = " LEFT JOIN __f f ON f.rule = m.rule AND f.event_id = m.event_id"
        field_sel = "f.fields"
    ents = "to_json(struct_pack(" + ", ".join(f'"{k}" := m."{k}"' for k in _entity_kinds()) + "))"
    writer.write_state([
        ("INSERT INTO sigma_matches SELECT m.rule, h.rule_hash, m.event_id, m.ingest_id, m.table_name, m.time, "
         f"m.host, m.source, m.record, m.event_code, {ents}, {field_sel}, ? FROM __m m JOIN __h h USING (rule)"
         f"{field_join} ON CONFLICT DO NOTHING", [run_id]),
        ("INSERT INTO sigma_evaluated SELECT rule_id, rule_hash, table_name, ingest_id, since, until, matches, ?, ? "
         "FROM __ledger ON CONFLICT DO UPDATE SET since = CASE WHEN excluded.since IS NULL OR "
         "sigma_evaluated.since IS NULL THEN NULL ELSE least(excluded.since, sigma_evaluated.since) END, "
         "until = CASE WHEN excluded.until IS NULL OR sigma_evaluated.until IS NULL THEN NULL ELSE "
         "greatest(excluded.until, sigma_evaluated.until) END, matches = excluded.matches, "
         "run_id = excluded.run_id, evaluated_at = excluded.evaluated_at", [run_id, now]),
    ], tables=tables)


def _entity_kinds() -> tuple[str, ...]:
    from aptwatch.detect.sigma.engine import ENTITY_COLUMNS

    return tuple(ENTITY_COLUMNS)
