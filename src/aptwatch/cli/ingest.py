"""`aptwatch ingest` and `aptwatch hunt`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from aptwatch.cli.common import StoreOpt, WaitOpt, err_console
from aptwatch.context.networks import InternalNetworks, parse_networks, save_networks
from aptwatch.errors import InputError
from aptwatch.ingest import IngestReport
from aptwatch.ingest import Progress as IngestProgress
from aptwatch.ingest import ingest as run_ingest
from aptwatch.sources.base import IngestSettings
from aptwatch.store import Store

PathsArg = Annotated[list[Path], typer.Argument(help="Files or folders (archives are read in place).",
                                                show_default=False)]
WorkersOpt = Annotated[int | None, typer.Option("--workers", help="Parser processes (default: CPU count).", min=1)]
YearOpt = Annotated[int | None, typer.Option(
    "--year", help="Year of the first line of year-less syslog timestamps (default: from the file's modification "
    "time).", min=1970, max=2200)]
TimezoneOpt = Annotated[str, typer.Option(
    "--timezone", help="Time zone of log times written without an offset (syslog), e.g. Europe/Vienna.")]
InternalNetOpt = Annotated[list[str] | None, typer.Option(
    "--internal-net", help="Internal address range, CIDR (repeatable). Replaces the store's configured ranges "
                           "(default: RFC 1918, RFC 6598, RFC 4193, link-local, loopback) and is saved in the store.")]


class BarProgress(IngestProgress):
    """A rich progress bar on stderr, by bytes."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(TextColumn("[bold]ingest"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                            TextColumn("{task.fields[current]}", markup=False), console=console, transient=True)
        self.task = self.bar.add_task("ingest", total=1, current="")

    def start(self, sources: int, total_bytes: int) -> None:
        self.bar.update(self.task, total=max(total_bytes, 1))
        self.bar.start()

    def advance(self, display: str, size: int) -> None:
        self.bar.update(self.task, advance=size, current=Path(display).name[-40:])

    def stop(self) -> None:
        self.bar.stop()


def configure_networks(store: Store, internal_nets: list[str] | None, wait: float) -> None:
    """Save `--internal-net` ranges in the store (address context is re-derived with them)."""
    if internal_nets:
        nets = InternalNetworks(parse_networks(internal_nets))
        with store.writer("configure", wait=wait):
            save_networks(store, nets)


def do_ingest(store: Store, paths: list[Path], workers: int | None, wait: float, command: str,
              internal_nets: list[str] | None = None, settings: IngestSettings | None = None) -> IngestReport:
    console = err_console()
    configure_networks(store, internal_nets, wait)
    progress = BarProgress(console)
    try:
        report = run_ingest(store, paths, settings=settings, workers=workers, wait=wait, progress=progress,
                            command=command)
    finally:
        progress.stop()
    rate = report.events / report.seconds if report.seconds else 0.0
    console.print(f"ingested {report.sources} source(s), {report.events:,} events in {report.seconds:.1f}s "
                  f"({rate:,.0f}/s); {report.skipped} already in the store; {report.warnings:,} warning(s)",
                  markup=False)
    if report.by_table:
        console.print("  tables: " + ", ".join(f"{t} {n:,}" for t, n in report.by_table.most_common()), markup=False)
    if report.unknown:
        shown = ", ".join(report.unknown[:5]) + (" ..." if len(report.unknown) > 5 else "")
        console.print(f"  {len(report.unknown)} file(s) in no known format, skipped: {shown}", markup=False)
    if report.failed:
        console.print(f"  {report.failed} source(s) failed with a parser error (an aptwatch bug; see "
                      "`aptwatch query \"SELECT * FROM warnings WHERE reason = 'parser_error'\"`)", markup=False)
    return report


def check_paths(paths: list[Path]) -> None:
    """Fail before creating or locking anything when a named path is missing."""
    for p in paths:
        if not p.exists():
            raise InputError("no such file or directory", location=str(p))


def ingest_settings(year: int | None, timezone: str) -> IngestSettings:
    """Settings from the command line; an unknown time zone is an input error."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {timezone!r} (use an IANA name such as Europe/Vienna)",
                         location="--timezone") from None
    return IngestSettings(default_year=year, local_timezone=timezone)


def ingest(paths: PathsArg, store: StoreOpt = None, workers: WorkersOpt = None, wait: WaitOpt = 0.0,
           internal_net: InternalNetOpt = None, year: YearOpt = None, timezone: TimezoneOpt = "UTC") -> None:
    """Read log files and folders into the store. Format is sniffed from content; re-ingesting adds nothing."""
    check_paths(paths)
    if internal_net:
        parse_networks(internal_net)  # a bad range is a usage error before anything is created
    settings = ingest_settings(year, timezone)
    st = Store.open(store, create=True)
    report = do_ingest(st, paths, workers, wait, "ingest", internal_net, settings)
    if report.failed:
        raise typer.Exit(1)
