"""`aptwatch detect` and `aptwatch hunt`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from aptwatch.cli.common import StoreOpt, WaitOpt, err_console, open_store
from aptwatch.cli.ingest import InternalNetOpt, PathsArg, WorkersOpt, check_paths, do_ingest
from aptwatch.context.networks import parse_networks
from aptwatch.correlate import CorrelateReport, correlate
from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import DetectReport, run_detectors
from aptwatch.errors import InputError
from aptwatch.model.finding import Severity
from aptwatch.store import Store

RulesOpt = Annotated[list[Path] | None, typer.Option("--rules", help="Sigma rule file or folder (repeatable).")]
IocsOpt = Annotated[list[Path] | None, typer.Option("--iocs", help="IOC file: STIX 2.1, MISP, OpenIOC, CSV "
                                                                   "(repeatable).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only events after: ISO time or age like 180d, 12h.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Only events before: ISO time or age.")]
MinSevOpt = Annotated[str, typer.Option("--min-severity", help="Drop findings below this level.")]
OnlyOpt = Annotated[list[str] | None, typer.Option(
    "--only", help="Run only this detector (repeatable): sigma, import, beacon, lateral, ... (`aptwatch detect "
                   "--only sigma` runs Sigma rules alone, as Hayabusa or Chainsaw would).")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Detector option NAME=VALUE, e.g. beacon.min_score=0.8 or analytics.learn_days=14 (repeatable; "
                  "see docs/detections.md).")]


def parse_when(value: str | None, now: datetime | None = None) -> datetime | None:
    """'2024-03-01', '2024-03-01T10:00:00Z' or an age '180d' / '12h' / '30m' -> aware UTC datetime."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    v = value.strip()
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1, "w": 604800}
    if v[-1:] in units and v[:-1].isdigit():
        return now - timedelta(seconds=int(v[:-1]) * units[v[-1]])
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"cannot read time {value!r}: use ISO 8601 or an age like 180d") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_options(values: list[str] | None) -> dict[str, str]:
    """`--set NAME=VALUE` pairs -> options (values stay strings; each detector converts its own)."""
    out: dict[str, str] = {}
    for v in values or []:
        name, sep, value = v.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--set wants NAME=VALUE, got {v!r}")
        out[name.strip()] = value.strip()
    return out


def settings_from(rules: list[Path] | None, iocs: list[Path] | None, since: str | None, until: str | None,
                  min_severity: str, options: list[str] | None = None,
                  only: list[str] | None = None) -> DetectSettings:
    for p in [*(rules or []), *(iocs or [])]:
        if not p.exists():
            raise InputError("no such file or directory", location=str(p))
    return DetectSettings(rule_paths=tuple(rules or ()), ioc_paths=tuple(iocs or ()), since=parse_when(since),
                          until=parse_when(until), min_severity=Severity.parse(min_severity),
                          options=parse_options(options), only=tuple(only or ()))


def report_detect(report: DetectReport) -> None:
    console = err_console()
    per = ", ".join(f"{k} {v:,}" for k, v in sorted(report.by_detector.items())) or "no detector had work"
    console.print(f"detect: {report.findings:,} finding(s) in {report.seconds:.1f}s ({per}); "
                  f"{len(report.errors)} rule error(s)", markup=False)
    for note in report.notes:
        console.print(f"  note: {note}", markup=False)
    for name, why in report.failed.items():
        console.print(f"  detector {name} failed (an aptwatch bug): {why.splitlines()[0]}", markup=False)


def report_correlate(r: CorrelateReport) -> None:
    console = err_console()
    console.print(f"correlate: {r.findings:,} new finding(s): {r.members:,} in campaigns, {r.routine:,} routine, "
                  f"{r.suppressed:,} suppressed; {r.published:,} campaign(s) updated, {r.merges:,} merge(s), "
                  f"{len(r.detected)} newly detected in {r.seconds:.1f}s", markup=False)
    for cid, t in r.detected:
        console.print(f"  detected {cid} at {t.isoformat().replace('+00:00', 'Z')} (event time)", markup=False)


def detect(store: StoreOpt = None, rules: RulesOpt = None, iocs: IocsOpt = None, since: SinceOpt = None,
           until: UntilOpt = None, min_severity: MinSevOpt = "low", wait: WaitOpt = 0.0,
           option: SetOpt = None, only: OnlyOpt = None) -> None:
    """Run detectors (Sigma rules, IOCs, behavioural analytics) over stored events."""
    from aptwatch.detect import DETECTORS

    unknown = sorted(set(only or ()) - set(DETECTORS.names()))
    if unknown:
        raise InputError(f"no such detector: {', '.join(unknown)} (known: {', '.join(DETECTORS.names())})")
    st = open_store(store)
    report = run_detectors(st, settings_from(rules, iocs, since, until, min_severity, option, only), wait=wait)
    report_detect(report)
    if report.failed:
        raise typer.Exit(1)


def hunt(paths: PathsArg, store: StoreOpt = None, rules: RulesOpt = None, iocs: IocsOpt = None,
         min_severity: MinSevOpt = "low", workers: WorkersOpt = None, wait: WaitOpt = 0.0,
         internal_net: InternalNetOpt = None, option: SetOpt = None) -> None:
    """Ingest, detect and correlate in one go."""
    check_paths(paths)
    if internal_net:
        parse_networks(internal_net)
    settings = settings_from(rules, iocs, None, None, min_severity, option)
    st = Store.open(store, create=True)
    ingested = do_ingest(st, paths, workers, wait, "hunt", internal_net)
    report = run_detectors(st, settings, wait=wait)
    report_detect(report)
    report_correlate(correlate(st, wait=wait))
    if ingested.failed or report.failed:
        raise typer.Exit(1)
