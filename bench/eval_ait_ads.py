"""AIT-ADS campaign check: do the alerts of each scenario's intrusion become one campaign, and only that?

For each scenario of ../shared/data/ait-ads (alerts_csv/<scenario>_alerts.txt.gz) the script runs the
real pipeline on a fresh store: `ingest` (the AIT-ADS CSV source) -> `detect` (the import detector:
alerts grouped and mapped to ATT&CK) -> `correlate`, in two modes:

- **batch**: everything at once (`aptwatch hunt`);
- **replay**: one-day slices in event time (`aptwatch replay --slice 1d`), the honest time to detect.

Ground truth is used for evaluation only: `attack_phases.csv` (phase windows per scenario). The
alerts' `time_label` / `event_label` columns are never read by the pipeline (the import detector
proves it in its own tests) nor by this script. Measures, per scenario and mode:

- *main campaign*: the campaign holding the most findings inside attack-phase windows;
- *phases covered*: the share of attack phases (false-positive windows excluded) with at least one
  finding of the main campaign inside the phase window (goal >= 90 %); the phases missed are named;
- *outside windows*: the share of the main campaign's findings that lie outside every attack-phase
  window (goal <= 10 %), also weighted by alert count;
- *other detected*: campaigns other than the main one that reach *detected* (goal 0);
- *time to detect*: from the start of the first attack phase to the main campaign's `detected_at`
  (and, in replay, to the end of the slice in which it was detected);
- *phases with evidence*: the phases in which the data set labels at least one alert as the attack's
  (`event_label` other than '-', `time_label` the phase): the most a correlator can cover from these
  alerts, and how many of them the main campaign covers. The labels are read here, for this measure
  only, never by the pipeline.

Nothing is fitted: correlation runs with its documented defaults (docs/campaigns.md). `--sweep`
additionally reruns batch mode with the host-proximity prior rate and the join threshold changed
(x0.5, x2) to show how sensitive the results are; those variants are reported, never chosen.

Usage: python bench/eval_ait_ads.py [--scenarios a,b] [--modes batch,replay] [--markdown] [--sweep]
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("APTWATCH_SHARED_DATA", REPO.parent / "shared" / "data")) / "ait-ads"
SCENARIOS = ("russellmitchell", "santos", "shaw", "wardbeck")


@dataclass
class Phase:
    name: str
    start: datetime
    end: datetime


@dataclass
class Result:
    scenario: str
    mode: str
    variant: str
    findings: int = 0
    campaigns: int = 0
    main: str | None = None
    main_findings: int = 0
    covered: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    outside: int = 0
    outside_alerts: int = 0
    main_alerts: int = 0
    other_detected: int = 0
    detected_at: datetime | None = None
    reported_at: datetime | None = None
    first_phase: datetime | None = None
    stages: tuple[str, ...] = ()
    score: float = 0.0
    #: phases in which the data set labels at least one alert as the attack's
    evidenced: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        n = len(self.covered) + len(self.missed)
        return len(self.covered) / n if n else 0.0

    @property
    def outside_share(self) -> float:
        return self.outside / self.main_findings if self.main_findings else 0.0

    first_covered: datetime | None = None

    @property
    def ttd(self) -> timedelta | None:
        return self.detected_at - self.first_phase if self.detected_at and self.first_phase else None

    @property
    def ttd_chain(self) -> timedelta | None:
        """From the start of the first phase the campaign covers (its own chain) to detection."""
        return self.detected_at - self.first_covered if self.detected_at and self.first_covered else None


def phases(scenario: str) -> list[Phase]:
    out = []
    with open(DATA / "attack_phases.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["scenario"] == scenario and not r["phase"].startswith("false_positive"):
                out.append(Phase(r["phase"], datetime.fromisoformat(r["start_utc"].replace("Z", "+00:00")),
                                 datetime.fromisoformat(r["end_utc"].replace("Z", "+00:00"))))
    return out


@functools.cache
def evidenced_phases(scenario: str) -> tuple[str, ...]:
    """Phases with at least one alert the data set labels as the attack's (evaluation only)."""
    names = {p.name for p in phases(scenario)}
    seen: set[str] = set()
    with gzip.open(DATA / "alerts_csv" / f"{scenario}_alerts.txt.gz", "rt", newline="") as fh:
        for r in csv.DictReader(fh):
            if r.get("event_label", "-") != "-" and r.get("time_label") in names:
                seen.add(r["time_label"])
    return tuple(p.name for p in phases(scenario) if p.name in seen)


def evaluate(scenario: str, mode: str, variant: str, store_dir: Path, reported: dict[str, datetime]) -> Result:
    from aptwatch.store import Store

    ph = phases(scenario)
    res = Result(scenario, mode, variant, first_phase=min(p.start for p in ph),
                 evidenced=list(evidenced_phases(scenario)))
    st = Store.open(store_dir)
    with st.state.connect(read_only=True) as con:
        res.findings = con.execute("SELECT count(*) FROM findings").fetchall()[0][0]
        members = con.execute("""
            SELECT m.campaign_id, m.time, m.time_last, coalesce(TRY_CAST(json_extract(f.extra, '$.count') AS BIGINT), 1)
            FROM campaign_members m JOIN findings f ON f.id = m.finding_id
            WHERE m.disposition = 'member' AND m.campaign_id IN (SELECT id FROM campaigns)""").fetchall()
        camps = {r[0]: r[1:] for r in con.execute(
            "SELECT id, detected_at, stages, score FROM campaigns").fetchall()}
    res.campaigns = len(camps)

    def inside(t0: datetime, t1: datetime) -> list[str]:
        return [p.name for p in ph if t0 <= p.end and t1 >= p.start]

    by: dict[str, list[tuple[datetime, datetime, int]]] = {}
    for cid, t0, t1, n in members:
        by.setdefault(cid, []).append((t0, t1, int(n)))
    if not by:
        res.missed = [p.name for p in ph]
        return res
    main = max(by, key=lambda c: (sum(1 for t0, t1, _ in by[c] if inside(t0, t1)), c))
    res.main = main
    rows = by[main]
    res.main_findings = len(rows)
    covered = {name for t0, t1, _ in rows for name in inside(t0, t1)}
    res.covered = [p.name for p in ph if p.name in covered]
    res.first_covered = min((p.start for p in ph if p.name in covered), default=None)
    res.missed = [p.name for p in ph if p.name not in covered]
    res.outside = sum(1 for t0, t1, _ in rows if not inside(t0, t1))
    res.main_alerts = sum(n for _, _, n in rows)
    res.outside_alerts = sum(n for t0, t1, n in rows if not inside(t0, t1))
    det, stages, score = camps[main]
    res.detected_at, res.stages, res.score = det, tuple(stages or ()), float(score)
    res.reported_at = reported.get(main)
    res.other_detected = sum(1 for c, (d, _, _) in camps.items() if d is not None and c != main)
    return res


def run(scenario: str, mode: str, variant: str, settings: Any, workdir: Path, min_severity: str) -> Result:
    from aptwatch.correlate import correlate
    from aptwatch.correlate.replay import replay
    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.ingest import ingest
    from aptwatch.model.finding import Severity
    from aptwatch.store import Store

    detect = DetectSettings(min_severity=Severity.parse(min_severity))
    src = DATA / "alerts_csv" / f"{scenario}_alerts.txt.gz"
    store_dir = workdir / f"{scenario}-{mode}-{variant}"
    shutil.rmtree(store_dir, ignore_errors=True)
    reported: dict[str, datetime] = {}
    if mode == "batch":
        st = Store.open(store_dir, create=True)
        ingest(st, [src])
        run_detectors(st, detect)
        correlate(st, settings)
    else:
        rep = replay(store_dir, [src], detect, slice_len=timedelta(days=1), settings=settings)
        reported = {rc.campaign.id: rc.reported_at for rc in rep.campaigns if rc.reported_at}
    return evaluate(scenario, mode, variant, store_dir, reported)


def dur(td: timedelta | None) -> str:
    if td is None:
        return "not detected"
    s = int(td.total_seconds())
    sign = "-" if s < 0 else ""
    s = abs(s)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    return f"{sign}{d}d {h}h {rem // 60}m" if d else f"{sign}{h}h {rem // 60}m"


def table(results: list[Result]) -> str:
    lines = ["| scenario | mode | variant | findings | campaigns | phases in main campaign | missed | main findings "
             "outside windows (alerts) | other detected | main stages | score | first phase -> detected | "
             "-> reported | first covered phase -> detected | phases with evidence in main campaign |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rep = dur(r.reported_at - r.first_phase) if r.reported_at and r.first_phase else "-"
        lines.append(
            f"| {r.scenario} | {r.mode} | {r.variant} | {r.findings:,} | {r.campaigns} | "
            f"{len(r.covered)}/{len(r.covered) + len(r.missed)} ({r.coverage:.0%}) | {', '.join(r.missed) or '-'} | "
            f"{r.outside}/{r.main_findings} ({r.outside_share:.1%}; alerts {r.outside_alerts:,}/{r.main_alerts:,}) | "
            f"{r.other_detected} | {' > '.join(r.stages)} | {r.score:.2f} | {dur(r.ttd)} | {rep} | "
            f"{dur(r.ttd_chain)} | {sum(1 for p in r.evidenced if p in r.covered)}/{len(r.evidenced)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--modes", default="batch,replay")
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--min-severity", default="low,informational",
                    help="import detector minimum severities to evaluate (low = the default pipeline; "
                         "informational = every alert, anomaly detectors included)")
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    if not (DATA / "attack_phases.csv").exists():
        sys.exit(f"needs {DATA}")
    from aptwatch.correlate import CorrelateSettings
    from aptwatch.detect import DETECTORS

    if "import" not in DETECTORS:
        sys.exit("needs the import detector (third-party alerts as findings)")
    base = CorrelateSettings()
    variants = [("defaults", base)]
    if args.sweep:
        variants += [("prior rate x0.5", replace(base, host_prior_rate=base.host_prior_rate / 2)),
                     ("prior rate x2", replace(base, host_prior_rate=base.host_prior_rate * 2)),
                     ("join 0.35", replace(base, join_threshold=0.35)),
                     ("join 0.7", replace(base, join_threshold=0.7))]
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="aptwatch-ait-"))
    results = []
    try:
        for sc in args.scenarios.split(","):
            for sev in args.min_severity.split(","):
                for mode in args.modes.split(","):
                    for name, settings in variants if mode == "batch" else variants[:1]:
                        label = f"{name}, alerts >= {sev}"
                        r = run(sc, mode, label, settings, workdir, sev)
                        results.append(r)
                        print(table([r]).splitlines()[-1], file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))


if __name__ == "__main__":
    main()
