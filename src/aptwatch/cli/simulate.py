"""`aptwatch simulate` and `aptwatch demo`."""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aptwatch.cli.common import StoreOpt, err_console
from aptwatch.errors import InputError
from aptwatch.simulate.config import SimulationConfig
from aptwatch.simulate.engine import SimProgress, SimulationReport
from aptwatch.simulate.engine import simulate as run_simulation
from aptwatch.simulate.profiles import BUILT_IN
from aptwatch.store import Store

if TYPE_CHECKING:
    from aptwatch.demo import DemoResult


class DayBar:
    """Simulation progress on stderr: days done, events written."""

    def __init__(self, console: Console, label: str = "simulate") -> None:
        self.bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
                            TextColumn("{task.fields[events]}", markup=False),
                            TextColumn("{task.fields[note]}", markup=False), TimeElapsedColumn(),
                            console=console, transient=True)
        self.task = self.bar.add_task(label, total=1, events="", note="")

    def note(self, text: str) -> None:
        self.bar.update(self.task, note=text)

    def start(self, days: int) -> None:
        self.bar.update(self.task, total=days)
        self.bar.start()

    def day(self, index: int, events: int) -> None:
        self.bar.update(self.task, completed=index + 1, events=f"{events:,} events")

    def stop(self) -> None:
        self.bar.stop()


def _profiles_table(plans: Path | None) -> list[tuple[str, str, str, str]]:
    from aptwatch.simulate.ctid import default_plans_dir, find_plans, load_plan

    rows = [(p.key, p.name, p.group_id or "-", f"built-in, {len(p.steps)} steps") for p in BUILT_IN.values()]
    root = plans or default_plans_dir()
    if root is not None and root.is_dir():
        for key, path in find_plans(root).items():
            prof, rep = load_plan(path)
            rows.append((key, prof.name, prof.group_id or "-",
                         f"CTID plan, {rep.used} procedures, {len(rep.skipped)} skipped, "
                         f"stages filled: {', '.join(rep.filled) or 'none'}"))
    return rows


def summarize(report: SimulationReport, console: Console) -> None:
    console.print(f"simulated {report.hosts} hosts x {report.days} days: {report.events:,} events in "
                  f"{report.seconds:.1f}s ({report.rate:,.0f}/s); {report.malicious:,} malicious (ground truth)",
                  markup=False)
    console.print("  " + ", ".join(f"{k} {v:,}" for k, v in report.by_stream.items()), markup=False)
    for c in report.campaigns:
        stages = c.get("stages", {})
        console.print(f"  campaign {c['id']} ({c['name']}, {c.get('group_id') or '-'}): "
                      f"{len(stages)}/8 stages, hosts {' -> '.join(c.get('hosts', []))}", markup=False)
        for st, m in stages.items():
            console.print(f"    {st:<20} {m['first']} .. {m['last']}", markup=False)
    console.print(f"  logs: {report.out / 'logs'}   ground truth: {report.out / 'truth'}", markup=False)
    console.print(f"  hunt them with: aptwatch hunt {report.out / 'logs'}", markup=False)


def simulate(
    out: Annotated[Path | None, typer.Argument(help="Output folder (must be new or empty).",
                                               show_default=False)] = None,
    hosts: Annotated[int, typer.Option("--hosts", help="Machines in the organisation.", min=8)] = 50,
    days: Annotated[int, typer.Option("--days", help="Days to simulate.", min=1)] = 30,
    users: Annotated[int | None, typer.Option("--users", help="User accounts (default: one per workstation).",
                                              min=1)] = None,
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD (UTC).")] = "2024-03-04",
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")] = 1,
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", help="Campaign profile (repeatable): apt29, apt28, apt41, lazarus, ctid:<plan>, or a plan "
                          "YAML path. Default: apt29.")] = None,
    campaign_start: Annotated[list[int] | None, typer.Option(
        "--campaign-start", help="Day (0-based) each campaign starts, in --profile order (repeatable).")] = None,
    no_campaign: Annotated[bool, typer.Option("--no-campaign", help="Benign activity only.")] = False,
    windows_format: Annotated[str, typer.Option("--windows-format", help="winlogbeat (ECS) or otrf.")] = "winlogbeat",
    compress: Annotated[bool, typer.Option("--compress", help="gzip every log file.")] = False,
    domain: Annotated[str, typer.Option("--domain", help="Active Directory DNS domain.")] = "corp.example.com",
    no_linux: Annotated[bool, typer.Option("--no-linux", help="No Linux servers.")] = False,
    no_4688: Annotated[bool, typer.Option("--no-4688", help="Do not write Security 4688 next to Sysmon 1.")] = False,
    noise: Annotated[float, typer.Option("--noise", help="Multiplier on benign activity volume.")] = 1.0,
    plans: Annotated[Path | None, typer.Option("--plans", help="CTID emulation plans folder (for ctid: "
                                                               "profiles).")] = None,
    list_profiles: Annotated[bool, typer.Option("--list-profiles", help="List profiles and exit.")] = False,
) -> None:
    """Write realistic telemetry of an organisation, with planted APT campaigns and their ground truth."""
    if list_profiles:
        for key, name, gid, what in _profiles_table(plans):
            sys.stdout.write(f"{key:<28} {name:<24} {gid:<6} {what}\n")
        return
    if out is None:
        raise InputError("give an output folder (aptwatch simulate OUT)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("output folder exists and is not empty", location=str(out))
    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise InputError(f"--start {start!r}: use YYYY-MM-DD") from None
    profiles = () if no_campaign else tuple(profile or ("apt29",))
    cfg = SimulationConfig(hosts=hosts, days=days, seed=seed, users=users, start=first, profiles=profiles,
                           campaign_start_days=tuple(campaign_start or ()),
                           windows_format=windows_format,  # type: ignore[arg-type]
                           compress=compress, domain=domain, linux=not no_linux, security_4688=not no_4688,
                           noise=noise, plans_dir=str(plans) if plans else None)
    from aptwatch.simulate.ctid import resolve_profile  # fail fast on a bad profile name
    for p in profiles:
        resolve_profile(p, cfg.plans_dir)
    console = err_console()
    bar = DayBar(console)
    try:
        report = run_simulation(cfg, out, bar)
    finally:
        bar.stop()
    summarize(report, console)


def demo(
    store: StoreOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Keep the simulated logs in this folder "
                                                           "(default: a temporary folder, removed).")] = None,
    report: Annotated[Path, typer.Option("--report", help="HTML report file.")] = Path("aptwatch-demo-report.html"),
    hosts: Annotated[int, typer.Option("--hosts", help="Machines.", min=8)] = 50,
    days: Annotated[int, typer.Option("--days", help="Days.", min=2)] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    profile: Annotated[str, typer.Option("--profile", help="Campaign profile.")] = "apt29",
    noise: Annotated[float, typer.Option("--noise", help="Multiplier on benign activity volume.")] = 1.0,
) -> None:
    """Simulate ~50 hosts for 30 days with one APT campaign, hunt it end to end, report."""
    from aptwatch.demo import demo_config, run_demo

    console = err_console()
    cfg = demo_config(hosts, days, seed, profile, noise)
    from aptwatch.simulate.ctid import resolve_profile
    resolve_profile(profile, None)
    tmp = Path(tempfile.mkdtemp(prefix="aptwatch-demo-")) if out is None else out
    if out is not None and out.exists() and any(out.iterdir()):
        raise InputError("--out folder exists and is not empty", location=str(out))
    st = Store.open(store or tmp / "store", create=True)

    class _Progress:
        def __init__(self) -> None:
            self.bars: list[DayBar] = []

        def phase(self, name: str) -> None:
            for b in self.bars:
                b.stop()
            self.bars.clear()
            console.print(f"[bold]demo[/bold]: {name}")

        def sim(self) -> SimProgress:
            b = DayBar(console)
            self.bars.append(b)
            return b

        def ingested(self, days: int, events: int) -> None:
            for b in self.bars:
                b.note(f"| ingested {days} d, {events:,} events")

    prog = _Progress()
    try:
        result = run_demo(cfg, tmp, st, report, prog)
    finally:
        prog.phase("done")
        if out is None and store is None:
            shutil.rmtree(tmp, ignore_errors=True)
        elif out is None:
            console.print(f"simulated logs kept in {tmp / 'simulation'} (the store's evidence points there)",
                          markup=False)
    _print_summary(result)


def _print_summary(r: DemoResult) -> None:
    from aptwatch.demo import best_campaign as best
    from aptwatch.demo import planted_rows as rows_of

    ev = r.evaluation
    w = sys.stdout.write
    p = r.planted
    w(f"aptwatch demo: {r.sim.hosts} hosts, {r.sim.days} days, {r.sim.events:,} simulated events\n\n")
    w(f"Planted (ground truth): {p.get('name', '-')} ({p.get('group_id') or '-'}) campaign {p.get('id', '-')}\n")
    for row in rows_of(p, ev):
        w(f"  {row['stage']:<20} {row['first'][:16].replace('T', ' ')}  {row['events']:>6,} events  "
          f"found: {row['found by aptwatch']}\n")
    w(f"  hosts: {' -> '.join(p.get('hosts', []))}\n\n")
    det = ", ".join(f"{k} {v:,}" for k, v in sorted(r.detect.by_detector.items())) or "no detector registered"
    w(f"aptwatch: ingested {r.ingest.events:,} events; {len(r.findings):,} findings ({det}); "
      f"{ev.true_findings:,} on planted events\n")
    stages = ev.stages_detected.get(p.get("id", ""), [])
    w(f"  stages with a finding on planted events: {len(stages)}/{len(ev.planted_stages.get(p.get('id', ''), []))}"
      f" ({', '.join(stages) or 'none'})\n")
    camp = best(r.campaigns, ev)
    if camp is None:
        w(f"  campaigns: none ({r.correlation})\n")
    else:
        dwell = camp.dwell_seconds
        w(f"  campaign {camp.id}: stages {' > '.join(camp.stages)}; hosts {', '.join(camp.hosts)}; "
          f"first seen {camp.first_seen:%Y-%m-%d %H:%M}; "
          f"{'detected ' + format(camp.detected_at, '%Y-%m-%d %H:%M') if camp.detected_at else 'not detected'}; "
          f"dwell {'-' if dwell is None else f'{dwell / 86400:.1f} days'}\n")
        w(f"  campaigns detected: {ev.detected_campaigns} ({ev.true_campaigns} true, {ev.false_campaigns} false)\n")
    total = sum(r.seconds.values())
    w(f"\nreport: {r.report}\ntime: " + ", ".join(f"{k} {v:.1f}s" for k, v in r.seconds.items()) +
      f"; total {total:.1f}s\n")
