"""Campaigns: findings linked along the kill chain, in the JSON contract of DESIGN.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aptwatch.model.finding import iso


@dataclass(frozen=True)
class Attribution:
    """One candidate group for a campaign."""

    group_id: str
    name: str
    score: float
    why: str | Mapping[str, Any] = ""

    def to_json(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "name": self.name, "score": round(self.score, 4), "why": self.why}


@dataclass(frozen=True)
class Campaign:
    """A campaign. `dwell_seconds` is first_seen -> detected_at (None until detected)."""

    id: str
    score: float
    stages: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    detected_at: datetime | None = None
    hosts: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    attribution: tuple[Attribution, ...] = ()
    explanation: Mapping[str, Any] = field(default_factory=dict)
    status: str = "open"

    @property
    def dwell_seconds(self) -> float | None:
        if self.detected_at is None:
            return None
        return (self.detected_at - self.first_seen).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": round(self.score, 4),
            "stages": list(self.stages),
            "first_seen": iso(self.first_seen),
            "detected_at": iso(self.detected_at),
            "last_seen": iso(self.last_seen),
            "dwell_seconds": self.dwell_seconds,
            "hosts": list(self.hosts),
            "users": list(self.users),
            "findings": list(self.findings),
            "attribution": [a.to_json() for a in self.attribution],
            "explanation": dict(self.explanation),
            "status": self.status,
        }
