"""Stored Sigma matches -> findings: one per rule x host x day, ranked by severity and prevalence.

Grouping: a finding is one rule firing on one host on one (UTC) day. It carries the total
match count, the first `evidence` events (default 20) and up to 10 distinct values per
entity kind, so a rule that matches a million events makes one finding per host-day, not a
million. The id is stable (`Finding.build` over rule id, host, day): re-runs and incremental
runs update the same finding.

Prevalence: for each rule, on how many hosts and days it fired, against all hosts and days
in the store. The score is `severity weight x rarity`, with rarity = 1 / (1 + log10(host-days
fired)), halved further in proportion to the share of all host-days it covers (when the store
has at least 4 host-days): a high rule seen once ranks above the same rule seen everywhere
every day. The numbers are in `extra.prevalence`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.detect.sigma.compiler import RuleMeta
from aptwatch.detect.sigma.engine import ENTITY_COLUMNS
from aptwatch.model.finding import Evidence, Finding, Severity
from aptwatch.store.writer import StoreWriter

DETECTOR = "sigma"
EVIDENCE = 20
ENTITY_VALUES = 10
WEIGHT = {Severity.INFORMATIONAL: 0.1, Severity.LOW: 0.25, Severity.MEDIUM: 0.5, Severity.HIGH: 0.75,
          Severity.CRITICAL: 0.95}


def rarity(host_days: int, coverage: float, store_host_days: int) -> float:
    r = 1.0 / (1.0 + math.log10(max(host_days, 1)))
    if store_host_days >= 4:
        r *= 1.0 - 0.5 * min(max(coverage, 0.0), 1.0)
    return r


def group_matches(writer: StoreWriter, rule_ids: Sequence[str], evidence: int = EVIDENCE) -> list[dict[str, Any]]:
    """Rows (rule, host, day, n, first, last, evidence, entities, hosts, days) from stored matches."""
    if not rule_ids:
        return []
    ents = ", ".join(
        f"list(DISTINCT json_extract_string(entities, '$.{k}')) FILTER (WHERE json_extract_string(entities, "
        f"'$.{k}') IS NOT NULL)[1:{ENTITY_VALUES}] AS \"e_{k}\"" for k in ENTITY_COLUMNS)
    sql = f"""
        WITH m AS (SELECT *, coalesce(host, '') AS hkey, CAST(time AS DATE) AS day FROM sigma_matches
                   WHERE rule_id IN (SELECT rule_id FROM __ids)),
        g AS (
            SELECT rule_id, hkey, day, count(*) AS n, min(time) AS first, max(time) AS last,
                   list(struct_pack(source := source, record := record, "table" := table_name, time := time,
                                    event_id := event_id, event_code := event_code)
                        ORDER BY time, event_id)[1:{int(evidence)}] AS evidence,
                   list(DISTINCT rule_hash) AS hashes, {ents}
            FROM m GROUP BY rule_id, hkey, day),
        p AS (SELECT rule_id, count(DISTINCT hkey) AS hosts, count(DISTINCT day) AS days,
                     count(DISTINCT (hkey, day)) AS host_days FROM m GROUP BY rule_id)
        SELECT g.*, p.hosts, p.days, p.host_days FROM g JOIN p USING (rule_id) ORDER BY rule_id, hkey, day"""
    ids = pa.table({"rule_id": list(rule_ids)})
    rows: list[dict[str, Any]] = writer.read_state(sql, tables={"__ids": ids}).to_pylist()
    return rows


def store_extent(session_sql: Any) -> tuple[int, int]:
    """(hosts, days) in the store's events."""
    row = session_sql("SELECT count(DISTINCT coalesce(host, '')) AS h, count(DISTINCT CAST(time AS DATE)) AS d "
                      "FROM events").to_pylist()[0]
    return int(row["h"] or 0), int(row["d"] or 0)


def build(rows: Sequence[Mapping[str, Any]], metas: Mapping[str, RuleMeta], extent: tuple[int, int],
          ) -> list[Finding]:
    """Findings from grouped rows (rules without metadata are skipped)."""
    hosts_total, days_total = extent
    store_host_days = max(hosts_total * days_total, 1)
    out: list[Finding] = []
    for r in rows:
        meta = metas.get(r["rule_id"])
        if meta is None:
            continue
        day: date = r["day"]
        entities: dict[str, list[str]] = {k: list(r[f"e_{k}"] or []) for k in ENTITY_COLUMNS}
        if r["hkey"]:
            entities["host"] = [r["hkey"]]
        coverage = r["host_days"] / store_host_days
        rar = rarity(int(r["host_days"]), coverage, store_host_days)
        ev = tuple(Evidence(e["source"], e["record"], e["table"], _utc(e["time"]), e["event_id"])
                   for e in r["evidence"] or [])
        codes = sorted({e["event_code"] for e in r["evidence"] or [] if e["event_code"] is not None})
        host_txt = r["hkey"] or "unknown host"
        out.append(Finding.build(
            detector=DETECTOR, rule_id=meta.uid, title=meta.title, severity=meta.level,
            time=_utc(r["first"]) or datetime.min.replace(tzinfo=UTC), time_last=_utc(r["last"]),
            tactics=meta.tactics, techniques=meta.techniques, entities=entities, evidence=ev,
            key=(r["hkey"], day.isoformat()), score=round(WEIGHT[meta.level] * rar, 4),
            description=f"{meta.title}: {r['n']} matching event(s) on {host_txt} on {day.isoformat()}.",
            extra={
                "count": int(r["n"]), "evidence_shown": len(ev), "day": day.isoformat(), "event_codes": codes,
                "rule": {"path": meta.path, "level": meta.level.value, "status": meta.status, "tags": list(meta.tags),
                         "logsource": dict(zip(("category", "product", "service"), meta.logsource, strict=True)),
                         "author": meta.author, "references": list(meta.references[:5]),
                         "falsepositives": list(meta.falsepositives)},
                "prevalence": {"hosts": int(r["hosts"]), "days": int(r["days"]), "host_days": int(r["host_days"]),
                               "store_hosts": hosts_total, "store_days": days_total,
                               "coverage": round(coverage, 4), "rarity": round(rar, 4)},
            },
        ))
    return out


def stale_findings(writer: StoreWriter, rule_ids: Sequence[str], keep: Sequence[str]) -> list[str]:
    """Ids of stored Sigma findings of these rules that the recomputation no longer produces."""
    if not rule_ids:
        return []
    rows = writer.read_state(
        "SELECT id FROM findings WHERE detector = ? AND rule_id IN (SELECT rule_id FROM __ids) "
        "AND id NOT IN (SELECT id FROM __keep)", [DETECTOR],
        tables={"__ids": pa.table({"rule_id": list(rule_ids)}), "__keep": pa.table({"id": pa.array(list(keep),
                                                                                                  pa.string())})})
    return [str(i) for i in rows.column(0).to_pylist()]


def delete_findings(writer: StoreWriter, ids: Sequence[str]) -> None:
    if not ids:
        return
    t = {"__gone": pa.table({"id": list(ids)})}
    writer.write_state([("DELETE FROM finding_entities WHERE finding_id IN (SELECT id FROM __gone)", None),
                      ("DELETE FROM findings WHERE id IN (SELECT id FROM __gone)", None)], tables=t)


def _utc(t: Any) -> datetime | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return datetime.fromisoformat(str(t))


def dumps(v: Any) -> str:
    return orjson.dumps(v, default=str).decode()
