"""Run detectors over a store and store their findings and run report."""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aptwatch.context.addresses import update_host_addresses
from aptwatch.detect import DETECTORS
from aptwatch.detect.base import DetectContext, Detector, DetectSettings, RuleError
from aptwatch.model.finding import Finding
from aptwatch.store import Store


@dataclass
class DetectReport:
    run_id: str
    findings: int = 0
    by_detector: dict[str, int] = field(default_factory=dict)
    errors: list[RuleError] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: detectors' notes on coverage, "<detector>: <note>"
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "findings": self.findings, "by_detector": self.by_detector,
            "errors": [{"rule": e.rule, "reason": e.reason, "location": e.location} for e in self.errors],
            "failed": self.failed, "stats": self.stats, "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }


def new_run_id(kind: str) -> str:
    return f"{kind[0]}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def run_detectors(store: Store, settings: DetectSettings, *, detectors: Iterable[Detector] | None = None,
                  wait: float = 0.0) -> DetectReport:
    """Run the (applicable) detectors; findings below the minimum severity are dropped."""
    t0 = time.monotonic()
    started = datetime.now(UTC)
    report = DetectReport(new_run_id("detect"))
    chosen = list(detectors) if detectors is not None else [
        d for d in DETECTORS if not settings.only or d.name in settings.only]
    with store.writer("detect", wait=wait) as writer, store.session() as session:
        update_host_addresses(store)  # catch up address context (e.g. after an ingest killed before its update)
        tables = session.event_tables()
        for det in chosen:
            if not det.applies(settings, tables):
                continue
            ctx = DetectContext(session, writer, settings, report.run_id)
            try:
                result = det.run(ctx)
            except Exception as e:  # a detector bug: recorded, reported, the others still run
                report.failed[det.name] = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}"
                continue
            kept: list[Finding] = [f for f in result.findings if f.severity.rank >= settings.min_severity.rank]
            report.findings += writer.write_findings(kept, report.run_id)
            report.by_detector[det.name] = len(kept)
            report.errors.extend(result.errors)
            if result.stats:
                report.stats[det.name] = result.stats
            report.notes.extend(f"{det.name}: {n}" for n in result.notes)
        report.seconds = time.monotonic() - t0
        writer.write_run(report.run_id, "detect", started, report.to_json())
    return report
