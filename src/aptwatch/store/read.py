"""Typed reads of state tables: rows -> Finding / Campaign."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from aptwatch.model.campaign import Attribution, Campaign
from aptwatch.model.finding import Evidence, Finding, Severity, entities_from_json
from aptwatch.store.base import Session


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _loads(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def finding_from_row(r: Mapping[str, Any]) -> Finding:
    return Finding(
        id=r["id"],
        time=_utc(r["time"]) or datetime.min.replace(tzinfo=UTC),
        time_last=_utc(r["time_last"]) or _utc(r["time"]) or datetime.min.replace(tzinfo=UTC),
        detector=r["detector"],
        rule_id=r["rule_id"],
        title=r["title"],
        severity=Severity.parse(r["severity"]),
        tactics=tuple(r["tactics"] or ()),
        techniques=tuple(r["techniques"] or ()),
        stage=r["stage"],
        entities=entities_from_json(_loads(r["entities"])),
        evidence=tuple(Evidence.from_json(e) for e in (_loads(r["evidence"]) or [])),
        campaign=r["campaign"],
        score=float(r["score"] if r["score"] is not None else 0.5),
        description=r["description"] or "",
        extra=_loads(r["extra"]) or {},
    )


def load_findings(session: Session, where: str = "true", params: list[Any] | None = None,
                  order: str = "time, id", limit: int | None = None) -> list[Finding]:
    """Findings matching a SQL condition (the session must have been opened with_state)."""
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    rows = session.sql(f"SELECT * FROM findings WHERE {where} ORDER BY {order}{lim}", params or []).to_pylist()
    return [finding_from_row(r) for r in rows]


def campaign_from_row(r: Mapping[str, Any]) -> Campaign:
    attribution = tuple(
        Attribution(a["group_id"], a["name"], float(a["score"]), a.get("why", ""))
        for a in (_loads(r["attribution"]) or [])
    )
    return Campaign(
        id=r["id"],
        score=float(r["score"] or 0.0),
        stages=tuple(r["stages"] or ()),
        first_seen=_utc(r["first_seen"]) or datetime.min.replace(tzinfo=UTC),
        last_seen=_utc(r["last_seen"]) or datetime.min.replace(tzinfo=UTC),
        detected_at=_utc(r["detected_at"]),
        hosts=tuple(r["hosts"] or ()),
        users=tuple(r["users"] or ()),
        findings=tuple(r["findings"] or ()),
        attribution=attribution,
        explanation=_loads(r["explanation"]) or {},
        status=r["status"] or "open",
    )


def load_campaigns(session: Session, where: str = "true", params: list[Any] | None = None) -> list[Campaign]:
    rows = session.sql(f"SELECT * FROM campaigns WHERE {where} ORDER BY score DESC, first_seen, id",
                       params or []).to_pylist()
    return [campaign_from_row(r) for r in rows]
