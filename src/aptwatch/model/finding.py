"""Findings: what detectors emit, in the JSON contract of ../shared/docs/DESIGN.md."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aptwatch.model.killchain import stage_for_tactics


class Severity(StrEnum):
    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self.value]

    @classmethod
    def parse(cls, value: str | None) -> Severity:
        """Sigma levels and common spellings -> Severity (unknown -> informational)."""
        v = (value or "").strip().lower()
        return _SEVERITY_ALIASES.get(v, cls.INFORMATIONAL)


SEVERITY_RANK = {"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
_SEVERITY_ALIASES = {s.value: s for s in Severity} | {
    "info": Severity.INFORMATIONAL, "informative": Severity.INFORMATIONAL, "moderate": Severity.MEDIUM,
    "med": Severity.MEDIUM, "crit": Severity.CRITICAL,
}

#: entity kinds with a meaning across detectors (others are allowed, and kept)
ENTITY_KINDS = ("host", "user", "src_ip", "dst_ip", "domain", "process", "hash", "file", "url", "service")


@dataclass(frozen=True)
class Evidence:
    """A reference back to one stored event (or one line of an imported alert file)."""

    source: str
    record: int | None
    table: str
    time: datetime | None
    event_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "record": self.record,
            "table": self.table,
            "time": iso(self.time),
            "event_id": self.event_id,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Evidence:
        return cls(d["source"], d.get("record"), d.get("table", ""), parse_time(d.get("time")), d.get("event_id"))


@dataclass(frozen=True)
class Finding:
    """One detection. `id` is stable: the same input gives the same id (see `finding_id`)."""

    id: str
    time: datetime
    time_last: datetime
    detector: str
    rule_id: str
    title: str
    severity: Severity
    tactics: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    stage: str | None = None
    entities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    campaign: str | None = None
    score: float = 0.5
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        detector: str,
        rule_id: str,
        title: str,
        severity: Severity | str,
        time: datetime,
        time_last: datetime | None = None,
        tactics: Iterable[str] = (),
        techniques: Iterable[str] = (),
        entities: Mapping[str, str | Iterable[str] | None] | None = None,
        evidence: Iterable[Evidence] = (),
        key: Iterable[str] = (),
        score: float = 0.5,
        description: str = "",
        extra: Mapping[str, Any] | None = None,
        stage: str | None = None,
    ) -> Finding:
        """Make a finding with a stable id and a stage derived from the tactics.

        `key` identifies the finding among the detector's findings for the same rule (e.g.
        host and day); when empty, the evidence event ids are the key.
        """
        ev = tuple(evidence)
        tac = tuple(dict.fromkeys(tactics))
        key_parts = list(key) or [e.event_id or f"{e.source}:{e.record}" for e in ev]
        st = stage or (s.value if (s := stage_for_tactics(tac)) else None)
        return cls(
            id=finding_id(detector, rule_id, key_parts),
            time=time,
            time_last=time_last or time,
            detector=detector,
            rule_id=rule_id,
            title=title,
            severity=severity if isinstance(severity, Severity) else Severity.parse(severity),
            tactics=tac,
            techniques=tuple(dict.fromkeys(techniques)),
            stage=st,
            entities=normalise_entities(entities or {}),
            evidence=ev,
            score=score,
            description=description,
            extra=dict(extra or {}),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON contract: one object per line in `findings --format jsonl`."""
        return {
            "id": self.id,
            "time": iso(self.time),
            "time_last": iso(self.time_last),
            "detector": self.detector,
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.value,
            "attack": {"tactics": list(self.tactics), "techniques": list(self.techniques)},
            "stage": self.stage,
            "entities": entities_json(self.entities),
            "evidence": [e.to_json() for e in self.evidence],
            "campaign": self.campaign,
            "score": self.score,
            "description": self.description,
            "extra": dict(self.extra),
        }


def finding_id(detector: str, rule_id: str, key: Iterable[str]) -> str:
    """Stable id from what the finding is about, not from when it was computed."""
    h = hashlib.sha256()
    for part in (detector, rule_id, *key):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return "f-" + h.hexdigest()[:20]


def normalise_entities(entities: Mapping[str, str | Iterable[str] | None]) -> dict[str, tuple[str, ...]]:
    """Drop empty values, de-duplicate, keep order; every kind maps to a tuple of strings."""
    out: dict[str, tuple[str, ...]] = {}
    for kind, value in entities.items():
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        clean = tuple(dict.fromkeys(v.strip() for v in values if v is not None and str(v).strip()))
        if clean:
            out[kind] = clean
    return out


def entities_json(entities: Mapping[str, tuple[str, ...]]) -> dict[str, str | list[str]]:
    """One value -> a string, several -> a list (documented in docs/cli.md)."""
    return {k: (v[0] if len(v) == 1 else list(v)) for k, v in entities.items()}


def entities_from_json(d: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    if not d:
        return {}
    return normalise_entities({k: ([v] if isinstance(v, str) else list(v)) for k, v in d.items()})


def iso(t: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, microseconds only when present."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if t.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return t.strftime(fmt)


def parse_time(value: Any) -> datetime | None:
    """datetime or ISO 8601 string -> aware UTC datetime (None passes through)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    s = str(value).replace("Z", "+00:00")
    t = datetime.fromisoformat(s)
    return t if t.tzinfo else t.replace(tzinfo=UTC)
