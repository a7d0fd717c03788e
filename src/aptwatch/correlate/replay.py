"""Replay: when would each campaign have been detected had aptwatch been running all along?

`replay(paths)` ingests the data once into a scratch store, then advances through event time in
slices (a day by default): for each slice it runs the detectors over that slice's events only
(`--since` / `--until`) and correlates the findings they produced, exactly as a scheduled
`aptwatch detect && aptwatch correlate` would have done at the end of that slice. It records, per
campaign, the event time of the finding that made it detected (`detected_at`) and the end of the
slice in which that happened (`reported_at`: when a scheduled run would have raised it).

This is the honest time-to-detect: a batch hunt over all the data at once can join early findings
through links that only later findings revealed, and so scores campaigns with hindsight; replay
never sees a finding before its slice. Detectors must honour `since` / `until` (the runner passes
them; a detector that ignores them makes its findings appear in the first slice).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aptwatch.correlate.engine import correlate
from aptwatch.correlate.settings import CorrelateSettings
from aptwatch.detect.base import Detector, DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.errors import InputError
from aptwatch.ingest import IngestReport, Progress
from aptwatch.ingest import ingest as run_ingest
from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import iso
from aptwatch.store import Store
from aptwatch.store import correlation as cs
from aptwatch.store.read import load_campaigns


@dataclass(frozen=True)
class SliceReport:
    start: datetime
    end: datetime
    events: int
    findings: int
    detected: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "events": self.events, "findings": self.findings,
                "detected": list(self.detected)}


@dataclass
class ReplayCampaign:
    campaign: Campaign
    reported_at: datetime | None

    @property
    def time_to_detect(self) -> float | None:
        c = self.campaign
        return (c.detected_at - c.first_seen).total_seconds() if c.detected_at else None

    def to_json(self) -> dict[str, Any]:
        c = self.campaign
        return {"id": c.id, "score": round(c.score, 4), "status": c.status, "stages": list(c.stages),
                "hosts": list(c.hosts), "findings": len(c.findings), "first_seen": iso(c.first_seen),
                "detected_at": iso(c.detected_at), "reported_at": iso(self.reported_at),
                "time_to_detect_seconds": self.time_to_detect,
                "time_to_report_seconds": (self.reported_at - c.first_seen).total_seconds()
                if self.reported_at else None,
                "last_seen": iso(c.last_seen)}


@dataclass
class ReplayReport:
    store: str
    slice_seconds: float
    ingest: IngestReport | None
    slices: list[SliceReport] = field(default_factory=list)
    campaigns: list[ReplayCampaign] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "slice_seconds": self.slice_seconds,
                "slices": [s.to_json() for s in self.slices],
                "campaigns": [c.to_json() for c in self.campaigns], "detector_failures": self.failed}


def parse_slice(value: str) -> timedelta:
    """'1d', '6h', '30m', '1w' -> timedelta."""
    units = {"w": 604800, "d": 86400, "h": 3600, "m": 60}
    v = value.strip().lower()
    if v[-1:] in units and v[:-1].isdigit() and int(v[:-1]) > 0:
        return timedelta(seconds=int(v[:-1]) * units[v[-1]])
    raise InputError(f"cannot read slice {value!r}: use e.g. 1d, 6h, 30m")


def _floor(t: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    n = (t - epoch) // step
    return epoch + n * step


def replay(store_dir: Path | None, paths: Sequence[Path], detect: DetectSettings, *, slice_len: timedelta,
           settings: CorrelateSettings | None = None, workers: int | None = None,
           ingest_progress: Progress | None = None,
           on_slice: Callable[[SliceReport, int, int], None] | None = None,
           detectors: Sequence[Detector] | None = None) -> ReplayReport:
    """Ingest `paths` into a new store (a temporary one unless `store_dir`), then detect and correlate
    slice by slice in event time."""
    temp = store_dir is None
    root = Path(tempfile.mkdtemp(prefix="aptwatch-replay-")) / "store" if store_dir is None else store_dir
    if not temp and root.exists() and any(root.iterdir()):
        raise InputError("replay needs a new, empty store directory (it ingests from scratch)", location=str(root))
    try:
        store = Store.open(root, create=True)
        ing = run_ingest(store, paths, workers=workers, progress=ingest_progress, command="replay")
        report = ReplayReport(str(root) if not temp else "(temporary)", slice_len.total_seconds(), ing)
        with cs.connect(store, read_only=True) as con:
            row = con.execute("SELECT min(min_time), max(max_time) FROM files WHERE status = 'active'").fetchall()[0]
            spans = con.execute("SELECT min_time, max_time, rows FROM files WHERE status = 'active' "
                                "AND min_time IS NOT NULL").fetchall()
        if row is None or row[0] is None:
            return report
        lo, hi = _floor(row[0], slice_len), row[1]
        n_slices = int((hi - lo) // slice_len) + 1
        first_report: dict[str, datetime] = {}
        for i in range(n_slices):
            a, b = lo + i * slice_len, lo + (i + 1) * slice_len
            events = sum(int(n) for t0, t1, n in spans if t0 < b and t1 >= a)
            if events == 0:
                continue
            det = run_detectors(store, DetectSettings(
                rule_paths=detect.rule_paths, ioc_paths=detect.ioc_paths, since=a,
                until=b - timedelta(microseconds=1), min_severity=detect.min_severity, only=detect.only,
                options=detect.options), detectors=detectors)
            report.failed.update(det.failed)
            cor = correlate(store, settings)
            for cid, _ in cor.detected:
                first_report.setdefault(cid, b)
            sl = SliceReport(a, b, events, det.findings, tuple(c for c, _ in cor.detected))
            report.slices.append(sl)
            if on_slice:
                on_slice(sl, i + 1, n_slices)
        with cs.connect(store, read_only=True) as con:
            resolved: dict[str, datetime] = {}
            for cid, t in first_report.items():
                final = cs.resolve_campaign(con, cid)
                resolved[final] = min(t, resolved.get(final, t))
        with store.session(with_state=True) as s:
            for c in load_campaigns(s):
                report.campaigns.append(ReplayCampaign(c, resolved.get(c.id) if c.detected_at else None))
        report.campaigns.sort(key=lambda rc: (rc.campaign.detected_at is None, rc.campaign.detected_at
                                              or rc.campaign.first_seen, rc.campaign.id))
        return report
    finally:
        if temp:
            shutil.rmtree(root.parent, ignore_errors=True)
