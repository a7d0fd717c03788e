"""Sigma v2 correlation rules, evaluated in the store over the stored matches of the rules they name.

The referenced rules run like any other (their matches, with the fields a correlation groups
or counts by, are kept in `sigma_matches`), then each correlation is one SQL query over them:

- `event_count`: per group, a window of `timespan` ending at each event; the count of events
  in it is compared with the condition (sliding windows, so a burst straddling a bucket
  boundary is not missed);
- `value_count`: the same windows, counting distinct values of `condition.field`;
  `value_sum` / `value_avg` / `value_median` aggregate its numeric value;
- `temporal`: every referenced rule matched within one window of the group;
- `temporal_ordered`: they matched in the listed order within `timespan` (for each event of
  the k-th rule, the latest start of a valid chain through rules 1..k-1 is carried forward by a
  running max; a chain is valid when the last event is within `timespan` of its start).

`group-by` fields may be aliases (`aliases:` maps an alias to each rule's own field name).
Overlapping firing windows of one group merge into one episode, which becomes one finding
(id stable on correlation id, group values and episode start) with the events as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.detect.base import RuleError
from aptwatch.detect.sigma.compiler import CompiledCorrelation, RuleMeta
from aptwatch.detect.sigma.findings import DETECTOR, WEIGHT
from aptwatch.detect.sigma.sql import Projection
from aptwatch.model.finding import Evidence, Finding
from aptwatch.model.schema import Table
from aptwatch.store.base import Session
from aptwatch.store.duckdb import sql_str
from aptwatch.store.writer import StoreWriter


@dataclass
class CorrelationResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


def rule_field(c: CompiledCorrelation, uid: str, name: str) -> str:
    """The field of rule `uid` that group-by / value name `name` means (aliases resolved)."""
    return c.aliases.get(name, {}).get(uid, name)


def needed_fields(correlations: Sequence[CompiledCorrelation]) -> dict[str, list[str]]:
    """Rule uid -> fields its matches must carry for the correlations that reference it."""
    out: dict[str, dict[str, None]] = {}
    for c in correlations:
        names = [*c.group_by, *([c.value_field] if c.value_field else [])]
        for uid in c.rules:
            if uid in c.chained:
                continue
            for n in names:
                out.setdefault(uid, {})[rule_field(c, uid, n)] = None
    return {k: list(v) for k, v in out.items()}


def extract_fields(session: Session, table: Table, matches: pa.Table,
                   needed: Mapping[str, Sequence[str]]) -> pa.Table | None:
    """(rule, event_id, fields JSON) for the matches of rules correlations reference."""
    if not needed or not matches.num_rows:
        return None
    parts: list[pa.Table] = []
    rules = matches.column("rule").to_pylist()
    ids = matches.column("event_id").to_pylist()
    for uid, names in needed.items():
        wanted = [e for r, e in zip(rules, ids, strict=True) if r == uid]
        if not wanted:
            continue
        proj = Projection(table, inline=True)
        obj = ", ".join(f"{sql_str(n)}, {proj.ref(n, 'raw')}" for n in names)
        session.register("__corr_ids", pa.table({"event_id": wanted}))
        got = session.sql(f'SELECT {sql_str(uid)} AS rule, event_id, CAST(json_object({obj}) AS VARCHAR) AS fields '
                          f'FROM "{table.name}" WHERE event_id IN (SELECT event_id FROM __corr_ids)')
        parts.append(got)
    return pa.concat_tables(parts) if parts else None


def _group_expr(c: CompiledCorrelation) -> str:
    if not c.group_by:
        return "list_value('')"
    items = []
    for g in c.group_by:
        cases = " ".join(
            f"WHEN {sql_str(uid)} THEN json_extract_string(fields, {sql_str(_path(rule_field(c, uid, g)))})"
            for uid in c.rules)
        items.append(f"CASE rule_id {cases} END")
    return "list_value(" + ", ".join(items) + ")"


def _path(name: str) -> str:
    return '$."' + name.replace('"', '\\"') + '"'


def _value_expr(c: CompiledCorrelation) -> str:
    assert c.value_field is not None
    cases = " ".join(
        f"WHEN {sql_str(uid)} THEN json_extract_string(fields, {sql_str(_path(rule_field(c, uid, c.value_field)))})"
        for uid in c.rules)
    return f"CASE rule_id {cases} END"


#: columns of the relation a correlation reads (`src`): stored matches, and the firings of chained correlations
SRC_COLUMNS = "rule_id, event_id, time, host, source, record, table_name, fields"
#: the identity of the event that completed a firing window (evidence, and a chained correlation's firing)
_EV = "event_id, host, source, record, table_name"


def windows_sql(c: CompiledCorrelation) -> str:
    """SQL over `src` yielding (grp, win_start, win_end, <the event at win_end>) for every window where the
    correlation fires."""
    span = f"INTERVAL {int(c.timespan)} SECOND"
    frame = f"PARTITION BY grp ORDER BY time RANGE BETWEEN {span} PRECEDING AND CURRENT ROW"
    m = (f"m AS (SELECT rule_id, {_EV}, time, {_group_expr(c)} AS grp"
         + (f", {_value_expr(c)} AS val" if c.value_field else "")
         + " FROM src WHERE time IS NOT NULL)")
    comparisons = c.comparisons or ((">=", 1.0),)
    if c.type == "event_count":
        agg = f"count(*) OVER ({frame})"
    elif c.type == "value_count":
        agg = f"count(DISTINCT val) OVER ({frame})"
    elif c.type == "value_sum":
        agg = f"sum(TRY_CAST(val AS DOUBLE)) OVER ({frame})"
    elif c.type == "value_avg":
        agg = f"avg(TRY_CAST(val AS DOUBLE)) OVER ({frame})"
    elif c.type == "value_median":
        agg = f"median(TRY_CAST(val AS DOUBLE)) OVER ({frame})"
    elif c.type == "temporal":
        # the condition counts distinct rules (Sigma: default `gte: <number of rules>`)
        agg = f"count(DISTINCT rule_id) OVER ({frame})"
    elif c.type == "temporal_ordered":
        return ("WITH " + m + ", " + _ordered_chain(c) + f" SELECT grp, start AS win_start, time AS win_end, {_EV} "
                "FROM chain")
    else:  # pragma: no cover - compile_rules rejects other types
        raise ValueError(c.type)
    w = f"w AS (SELECT grp, time, {_EV}, {agg} AS v FROM m)"
    out = f"SELECT grp, time - {span} AS win_start, time AS win_end, {_EV} FROM "
    upper = [(op, n) for op, n in comparisons if op in UPPER_OPS]
    if not upper or c.type not in GROWING_TYPES:
        # every comparison of the condition on each window (a range has two, ANDed: Sigma's "conjunction")
        return f"WITH {m}, {w} {out} w WHERE {_cmp('v', comparisons)}"
    # A growing aggregate (a count, a sum) passes every value below its peak as a burst builds up, so an upper
    # bound on each window would hold for any burst ("3 to 10 failed logons in 5 minutes" would fire on 50 of
    # them): upper bounds apply to the peak of the burst -- events of a group no more than `timespan` apart --
    # and lower bounds to each window, as without an upper bound.
    lower = [(op, n) for op, n in comparisons if op not in UPPER_OPS]
    return (f"WITH {m}, {w}, "
            f"g AS (SELECT *, lag(time) OVER (PARTITION BY grp ORDER BY time, event_id) AS prev FROM w), "
            f"b AS (SELECT *, sum(CASE WHEN prev IS NULL OR time - prev > {span} THEN 1 ELSE 0 END) OVER "
            f"(PARTITION BY grp ORDER BY time, event_id ROWS UNBOUNDED PRECEDING) AS burst FROM g), "
            f"p AS (SELECT *, max(v) OVER (PARTITION BY grp, burst) AS peak FROM b) "
            f"{out} p WHERE {_cmp('peak', comparisons)}" + (f" AND {_cmp('v', lower)}" if lower else ""))


#: comparisons that bound a correlation's value from above
UPPER_OPS = frozenset({"<", "<=", "="})
#: correlation types whose value only grows as a window takes in more events
GROWING_TYPES = frozenset({"event_count", "value_count", "value_sum", "temporal"})


def _cmp(value: str, comparisons: Sequence[tuple[str, float]]) -> str:
    return " AND ".join(f"{value} {op} {float(n)!r}" for op, n in comparisons)


def _ordered_chain(c: CompiledCorrelation) -> str:
    span = f"INTERVAL {int(c.timespan)} SECOND"
    ctes = [f"s0 AS (SELECT grp, time, time AS start, {_EV} FROM m WHERE rule_id = {sql_str(c.rules[0])})"]
    for k, uid in enumerate(c.rules[1:], 1):
        ctes.append(
            f"u{k} AS (SELECT grp, time, start, 0 AS ord, {_EV} FROM s{k - 1} UNION ALL "
            f"SELECT grp, time, NULL, 1, {_EV} FROM m WHERE rule_id = {sql_str(uid)}), "
            f"s{k} AS (SELECT grp, time, start, {_EV} FROM (SELECT grp, time, ord, {_EV}, max(start) OVER "
            f"(PARTITION BY grp ORDER BY time, ord ROWS UNBOUNDED PRECEDING) AS start FROM u{k}) "
            f"WHERE ord = 1 AND start IS NOT NULL AND time - start <= {span})")
    last = len(c.rules) - 1
    return ", ".join(ctes) + f", chain AS (SELECT grp, time, start, {_EV} FROM s{last})"


def _src_sql(c: CompiledCorrelation) -> str:
    plain = [u for u in c.rules if u not in c.chained]
    parts = []
    if plain:
        ids = ", ".join(sql_str(u) for u in plain)
        parts.append(f"SELECT {SRC_COLUMNS} FROM sigma_matches WHERE rule_id IN ({ids})")
    if c.chained:
        parts.append(f"SELECT {SRC_COLUMNS} FROM __fired WHERE rule_id IN ({', '.join(sql_str(u) for u in c.chained)})")
    return " UNION ALL ".join(parts)


def _fired_sql(c: CompiledCorrelation) -> str:
    """The correlation's firings as rows of `src` for the correlations that chain on it: one per firing
    window, at the time of the event that completed it, with the group's values as its fields."""
    pairs = ", ".join(f"{sql_str(g)}, grp[{i}]" for i, g in enumerate(c.group_by, 1))
    fields = f"CAST(json_object({pairs}) AS VARCHAR)" if pairs else "'{}'"
    return (f"WITH src AS ({_src_sql(c)}), win AS ({windows_sql(c)}) SELECT DISTINCT {sql_str(c.meta.uid)} AS rule_id, "
            f"event_id, win_end AS time, host, source, record, table_name, {fields} AS fields FROM win")


def evaluate(writer: StoreWriter, correlations: Sequence[CompiledCorrelation], metas: Mapping[str, RuleMeta],
             extent: tuple[int, int], evidence: int) -> CorrelationResult:
    """Every correlation, in the compiled (dependency) order; the firings of a correlation that another
    one references are kept for it. A correlation that fails is an error record; the others run."""
    out = CorrelationResult()
    needed = {u for c in correlations for u in c.chained}
    fired: dict[str, pa.Table] = {}
    for c in correlations:
        tables = {"__fired": pa.concat_tables([fired[u] for u in c.chained])} if c.chained else {}
        try:
            if c.chained and any(u not in fired for u in c.chained):
                raise ValueError("a correlation it references failed")
            if c.meta.uid in needed:
                fired[c.meta.uid] = writer.read_state(_fired_sql(c), tables=tables)
            if c.output:
                out.findings.extend(_one(writer, c, evidence, tables))
        except Exception as e:
            out.errors.append(RuleError(c.meta.uid, f"correlation failed: {str(e).splitlines()[0][:300]}",
                                        c.meta.path))
    return out


def _one(writer: StoreWriter, c: CompiledCorrelation, evidence: int,
         tables: Mapping[str, pa.Table] | None = None) -> list[Finding]:
    sql = f"""
        WITH src AS ({_src_sql(c)}),
        win AS ({windows_sql(c)}),
        o AS (SELECT *, max(win_end) OVER (PARTITION BY grp ORDER BY win_start, win_end ROWS BETWEEN UNBOUNDED
                    PRECEDING AND 1 PRECEDING) AS prev_end FROM win),
        e AS (SELECT *, sum(CASE WHEN prev_end IS NULL OR win_start > prev_end THEN 1 ELSE 0 END)
                    OVER (PARTITION BY grp ORDER BY win_start, win_end) AS ep FROM o),
        episodes AS (SELECT grp, ep, min(win_start) AS s, max(win_end) AS t FROM e GROUP BY grp, ep),
        m AS (SELECT *, {_group_expr(c)} AS grp FROM src)
        SELECT episodes.grp, episodes.s, episodes.t, count(DISTINCT m.event_id) AS n, min(m.time) AS first,
               max(m.time) AS last, list(DISTINCT m.host) AS hosts, list(DISTINCT m.rule_id) AS rules,
               list_sort(list(DISTINCT struct_pack(time := m.time, event_id := m.event_id, source := m.source,
                                                   record := m.record, "table" := m.table_name)))[1:{int(evidence)}]
                   AS evidence
        FROM episodes JOIN m ON m.grp = episodes.grp AND m.time BETWEEN episodes.s AND episodes.t
        GROUP BY episodes.grp, episodes.s, episodes.t ORDER BY episodes.s"""
    rows = writer.read_state(sql, tables=dict(tables or {})).to_pylist()
    out = []
    meta = c.meta
    for r in rows:
        group = dict(zip(c.group_by, r["grp"] or [], strict=False))
        first = _utc(r["first"])
        ev = tuple(Evidence(e["source"], e["record"], e["table"], _utc(e["time"]), e["event_id"])
                   for e in r["evidence"] or [])
        entities: dict[str, list[str]] = {"host": [h for h in r["hosts"] or [] if h]}
        for g, v in group.items():
            if v is not None and g.lower() in ("user", "targetusername", "subjectusername", "username"):
                entities.setdefault("user", []).append(str(v))
            if v is not None and g.lower() in ("ipaddress", "src_ip", "sourceip"):
                entities.setdefault("src_ip", []).append(str(v))
        out.append(Finding.build(
            detector=DETECTOR, rule_id=meta.uid, title=meta.title, severity=meta.level,
            time=first or datetime.min.replace(tzinfo=UTC), time_last=_utc(r["last"]), tactics=meta.tactics,
            techniques=meta.techniques, entities=entities, evidence=ev,
            key=(orjson.dumps(r["grp"], default=str).decode(), (first.isoformat() if first else "")),
            score=WEIGHT[meta.level],
            description=f"{meta.title}: {c.type} correlation over {len(c.rules)} rule(s) fired for "
                        f"{_fmt_group(group)} ({r['n']} event(s)).",
            extra={"correlation": {"type": c.type, "rules": list(c.rules), "group": group, "timespan": c.timespan,
                                   "condition": {"op": c.op, "count": c.count, "field": c.value_field,
                                                 "all": [[op, n] for op, n in c.comparisons]}},
                   "count": int(r["n"]), "rules_matched": list(r["rules"] or []), "rule": {"path": meta.path}},
        ))
    return out


def _fmt_group(group: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "all events"


def _utc(t: Any) -> datetime | None:
    if t is None:
        return None
    out: datetime = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return out
