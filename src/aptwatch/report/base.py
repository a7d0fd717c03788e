"""What an export format is: one module with one `Exporter` class, registered in
`aptwatch/report/__init__.py`.

An exporter writes one campaign (or, with `campaign=None`, a set of findings) to a text
stream. Everything it writes that came from logs is attacker-controlled: formats with markup
escape it (HTML through jinja2 autoescape).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, ClassVar

from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Finding


@dataclass(frozen=True)
class Section:
    """An extra table a caller adds to a report (e.g. the demo's planted ground truth)."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]
    note: str = ""


@dataclass(frozen=True)
class ReportContext:
    """What a report says besides the campaign and its findings. `generated_at` is passed in so
    the same input gives the same report."""

    title: str = "aptwatch report"
    generated_at: datetime | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    sections: Sequence[Section] = ()
    campaigns: Sequence[Campaign] = ()


class Exporter(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    extension: ClassVar[str]

    @abstractmethod
    def export(self, campaign: Campaign | None, findings: Sequence[Finding], out: IO[str],
               context: ReportContext | None = None) -> None:
        """Write the report to `out`."""
