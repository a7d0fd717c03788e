"""Dwell time and evidence per campaign and per stage, for display (`aptwatch campaigns`).

Dwell time is measured in event time:

- **first evidence** (`first_seen`): the earliest counting finding of the campaign;
- **detection** (`detected_at`): the event time of the finding whose arrival lifted the score over
  the threshold (`dwell_seconds` = first evidence -> detection: how long the attacker was inside
  before the evidence was enough);
- **last activity** (`last_seen`): the latest event of any counting finding.

Per stage the same three moments are given, with the stage's evidence (finding ids, in time
order) and the time from the campaign's first evidence to the stage's first evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.correlate.scoring import STAGE_ORDER_KEY, MemberRow, assemble
from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import iso
from aptwatch.store.base import Session


@dataclass
class MemberInfo:
    finding: str
    time: datetime
    time_last: datetime
    host: str | None
    rule: str
    title: str
    severity: str
    stage: str
    link: str
    via: str | None
    link_weight: float
    weight: float
    suppressed: bool
    why: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"finding": self.finding, "time": iso(self.time), "stage": self.stage, "rule": self.rule,
                "title": self.title, "severity": self.severity, "host": self.host, "link": self.link,
                "via": self.via, "link_weight": round(self.link_weight, 4), "evidence_weight": round(self.weight, 4),
                "suppressed": self.suppressed, "why": self.why}


@dataclass
class StageDwell:
    stage: str
    first_seen: datetime
    last_seen: datetime
    detected_at: datetime | None
    findings: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def to_json(self, campaign_first: datetime | None) -> dict[str, Any]:
        return {
            "stage": self.stage, "first_seen": iso(self.first_seen), "detected_at": iso(self.detected_at),
            "last_seen": iso(self.last_seen),
            "after_first_seconds": (self.first_seen - campaign_first).total_seconds() if campaign_first else None,
            "dwell_seconds": (self.detected_at - self.first_seen).total_seconds()
            if self.detected_at and self.detected_at >= self.first_seen else None,
            "hosts": self.hosts, "findings": self.findings,
        }


@dataclass
class CampaignDetail:
    campaign: Campaign
    stages: list[StageDwell]
    members: list[MemberInfo]

    def to_json(self) -> dict[str, Any]:
        """The campaign contract of DESIGN.md, plus `stage_details` and per-finding reasons in
        `explanation.findings`."""
        j = self.campaign.to_json()
        j["stage_details"] = [s.to_json(self.campaign.first_seen) for s in self.stages]
        explanation = dict(j.get("explanation") or {})
        explanation["findings"] = {m.finding: {k: v for k, v in m.to_json().items() if k != "finding"}
                                   for m in self.members}
        j["explanation"] = explanation
        return j


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def details(session: Session, campaigns: Sequence[Campaign]) -> list[CampaignDetail]:
    """Stage dwell and member explanations of the given campaigns (the session must have state views)."""
    if not campaigns:
        return []
    session.register("want_campaigns", pa.table({"id": [c.id for c in campaigns]}))
    rows = session.sql("""
        SELECT m.campaign_id, m.finding_id, m.time, m.time_last, m.host, m.detector || ':' || m.rule_id AS rule,
               f.title, m.severity, m.stage, m.tactics, m.weight, m.link, m.via, m.link_weight, m.suppressed, m.why
        FROM campaign_members m LEFT JOIN findings f ON f.id = m.finding_id
        WHERE m.campaign_id IN (SELECT id FROM want_campaigns) AND m.disposition = 'member'
        ORDER BY m.campaign_id, m.time, m.finding_id
    """).to_pylist()
    by_campaign: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_campaign.setdefault(r["campaign_id"], []).append(r)
    out = []
    for c in campaigns:
        members = by_campaign.get(c.id, [])
        mrows = [MemberRow(r["finding_id"], _utc(r["time"]).timestamp(), r["host"], r["rule"], r["stage"],
                           tuple(r["tactics"] or ()), float(r["weight"] or 0.0), bool(r["suppressed"]))
                 for r in members]
        eff, _ = assemble([m for m in mrows if not m.suppressed])
        infos: list[MemberInfo] = []
        stages: dict[str, StageDwell] = {}
        for r in members:
            st = eff.get(r["finding_id"], "suppressed")
            t, tl = _utc(r["time"]), _utc(r["time_last"] or r["time"])
            infos.append(MemberInfo(r["finding_id"], t, tl, r["host"], r["rule"], r["title"] or r["rule"],
                                    r["severity"], st, r["link"], r["via"], float(r["link_weight"] or 0.0),
                                    float(r["weight"] or 0.0), bool(r["suppressed"]),
                                    orjson.loads(r["why"]) if r["why"] else []))
            if r["suppressed"]:
                continue
            sd = stages.get(st)
            if sd is None:
                sd = stages[st] = StageDwell(st, t, tl, None)
            sd.first_seen = min(sd.first_seen, t)
            sd.last_seen = max(sd.last_seen, tl)
            sd.findings.append(r["finding_id"])
            if r["host"] and r["host"] not in sd.hosts:
                sd.hosts.append(r["host"])
        for sd in stages.values():
            sd.detected_at = c.detected_at
        if not members:  # a campaign written by another stage, without correlation state
            for st in c.stages:
                stages[st] = StageDwell(st, c.first_seen, c.last_seen, c.detected_at, [], list(c.hosts))
        ordered = sorted(stages.values(), key=lambda s: (STAGE_ORDER_KEY.get(s.stage, 99), s.first_seen))
        out.append(CampaignDetail(c, ordered, infos))
    return out
