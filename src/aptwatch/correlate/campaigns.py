"""Publishing campaigns: aggregates of the touched clusters -> scored, explained `campaigns` rows.

A cluster becomes a *campaign* (a row in `campaigns`) once it holds two or more linked findings;
a lone finding is already visible as a finding. A campaign is *detected* when its score reaches
`detect_threshold`; `detected_at` is the event time of the finding whose arrival lifted the score
over it (`scoring.crossing`), so dwell time (first evidence -> detection) is measured in event
time, not in the time aptwatch happened to run. Once set, `detected_at` only moves earlier (a
merge with a campaign detected before) or is cleared by analyst feedback (`feedback.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from aptwatch.correlate.scoring import STAGE_ORDER_KEY, MemberRow, crossing, score
from aptwatch.correlate.settings import UNSTAGED, CorrelateSettings
from aptwatch.model.finding import iso
from aptwatch.store import correlation as cs


@dataclass
class PublishStats:
    published: int = 0
    detected: list[tuple[str, datetime]] = field(default_factory=list)


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def member_rows(con: duckdb.DuckDBPyConnection, cids: Sequence[str]) -> dict[str, list[MemberRow]]:
    return {cid: [MemberRow(fid, (_utc(t) or datetime.min.replace(tzinfo=UTC)).timestamp(), host, rule, stage,
                            tuple(tactics or ()), float(w or 0.0), bool(sup))
                  for fid, t, host, rule, stage, tactics, w, sup in rows]
            for cid, rows in cs.member_rows(con, cids).items()}


def stage_summaries(aggs: Sequence[cs.StageAgg], first_seen: datetime | None) -> list[dict[str, Any]]:
    """Per stage, in kill-chain order: first and last evidence, findings, rules, hosts, and the time from
    the campaign's first evidence to the stage's (its dwell)."""
    per: dict[str, dict[str, Any]] = {}
    for a in aggs:
        d = per.setdefault(a.stage, {"stage": a.stage, "first_seen": a.first, "last_seen": a.last, "findings": 0,
                                     "rules": set(), "hosts": set()})
        d["first_seen"] = min(d["first_seen"], a.first)
        d["last_seen"] = max(d["last_seen"], a.last)
        d["findings"] += a.findings
        d["rules"].add(a.rule)
        d["hosts"].update(a.hosts)
    out = []
    for st in sorted(per, key=lambda x: STAGE_ORDER_KEY.get(x, 99)):
        d = per[st]
        f0, f1 = _utc(d["first_seen"]), _utc(d["last_seen"])
        out.append({
            "stage": st, "first_seen": iso(f0), "last_seen": iso(f1), "findings": d["findings"],
            "rules": sorted(d["rules"]), "hosts": sorted(d["hosts"]),
            "after_first_seconds": (f0 - first_seen).total_seconds() if f0 and first_seen else None,
            "duration_seconds": (f1 - f0).total_seconds() if f0 and f1 else None,
        })
    return out


def campaign_suppressions(con: duckdb.DuckDBPyConnection, supp: Sequence[cs.Suppression]
                          ) -> dict[str, list[cs.Suppression]]:
    out: dict[str, list[cs.Suppression]] = {}
    for x in supp:
        if x.scope == "campaign":
            out.setdefault(cs.resolve_campaign(con, x.target), []).append(x)
    return out


def publish(con: duckdb.DuckDBPyConnection, campaign_ids: Sequence[str], settings: CorrelateSettings,
            carried: Mapping[str, datetime], supp: Sequence[cs.Suppression]) -> PublishStats:
    """Re-score the given campaigns and upsert their rows."""
    stats = PublishStats()
    if not campaign_ids:
        return stats
    benign = campaign_suppressions(con, supp)
    rows: dict[str, list[Any]] = {f.name: [] for f in cs.CAMPAIGN_SCHEMA}
    drop: list[str] = []
    now = datetime.now(UTC)
    scored = []
    for a in cs.summarize(con, campaign_ids):
        rules: dict[str, dict[str, float]] = {}
        stage_first: dict[str, float] = {}
        for sa in a.stages:
            rules.setdefault(sa.stage, {})[sa.rule] = max(rules.get(sa.stage, {}).get(sa.rule, 0.0), sa.weight)
            t = (_utc(sa.first) or datetime.min.replace(tzinfo=UTC)).timestamp()
            stage_first[sa.stage] = min(stage_first.get(sa.stage, t), t)
        sc = score(rules, len(a.hosts), settings, stage_first)
        detected_at = _utc(a.detected_at)
        if a.id in carried:
            c = _utc(carried[a.id])
            detected_at = c if detected_at is None or (c and c < detected_at) else detected_at
        scored.append((a, sc, detected_at))
    # when did the newly detected cross? one query for all of them
    crossing_members = member_rows(con, [a.id for a, sc, det in scored if det is None and sc.detected(settings)])
    for a, sc, detected_at in scored:
        detected_by = a.previous.get("detected_by")
        if a.id in crossing_members:
            m = crossing(crossing_members[a.id], settings)
            if m is not None:
                detected_at = datetime.fromtimestamp(m.time, UTC)
                detected_by = m.finding
                stats.detected.append((a.id, detected_at))
        first = _utc(a.first)
        last = _utc(a.last)
        fb = benign.get(a.id, [])
        status = "benign" if fb and detected_at is None else "open"
        explanation = {
            "score": sc.explain(settings),
            "detected_by": detected_by if detected_at is not None else None,
            "stages": stage_summaries(a.stages, first),
            "links": a.links,
            "members": a.members,
            "suppressed": a.members - a.live,
            "feedback": [{"id": x.id, "reason": x.reason, "author": x.author, "at": iso(_utc(x.created_at))}
                         for x in fb],
        }
        if fb and detected_at is not None:
            explanation["reopened"] = "new evidence after the campaign was marked benign crossed the threshold"
        stages = [st for st in sorted(sc.stages, key=lambda x: STAGE_ORDER_KEY.get(x, 99))
                  if st != UNSTAGED and sc.stages[st] > 0]
        for name, value in (
                ("id", a.id), ("score", sc.total), ("stages", stages), ("first_seen", first),
                ("detected_at", detected_at), ("last_seen", last),
                ("dwell_seconds", (detected_at - first).total_seconds() if detected_at and first else None),
                ("hosts", a.hosts), ("users", a.users), ("findings", a.findings),
                ("attribution", a.attribution or "[]"), ("explanation", orjson.dumps(explanation).decode()),
                ("status", status), ("updated_at", now)):
            rows[name].append(value)
        stats.published += 1
    cs.write_campaign_rows(con, pa.table(rows, schema=cs.CAMPAIGN_SCHEMA), drop)
    return stats
