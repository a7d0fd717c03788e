"""What a detector is, and what it is given.

A detector is one module with one class: a unique `name`, a `description`, and
`run(ctx) -> DetectorResult`. It queries events through `ctx.session` (SQL over the event
tables, pushed into the engine), may read and update its own baselines through
`ctx.writer`, and returns typed findings. Register it with one line in
`aptwatch/detect/__init__.py`.

A problem with one *rule* (bad pattern, unsupported modifier, run-time SQL error) is an
error record in the result, and the detector goes on. An exception escaping `run` is a
bug; the runner records it in the run report and the CLI exits non-zero.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from aptwatch.model.finding import Finding, Severity
from aptwatch.store.base import Session
from aptwatch.store.writer import StoreWriter


@dataclass(frozen=True)
class DetectSettings:
    """What the user asked for; passed in, never global."""

    rule_paths: tuple[Path, ...] = ()
    ioc_paths: tuple[Path, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    min_severity: Severity = Severity.LOW
    #: only these detectors (empty: all that apply)
    only: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectContext:
    session: Session
    writer: StoreWriter
    settings: DetectSettings
    run_id: str


@dataclass(frozen=True)
class RuleError:
    """A rule that could not be used, with where and why."""

    rule: str
    reason: str
    location: str | None = None


@dataclass
class DetectorResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    #: what the analyst should know about this run's coverage (e.g. a baseline still learning), one line each
    notes: list[str] = field(default_factory=list)


class Detector(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def run(self, ctx: DetectContext) -> DetectorResult:
        """Detect over the session's events; never raise for a bad rule or bad data."""

    def applies(self, settings: DetectSettings, tables: Sequence[str]) -> bool:
        """Whether the detector has anything to do (e.g. rules given, tables present)."""
        return True
