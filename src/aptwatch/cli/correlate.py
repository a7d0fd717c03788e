"""`aptwatch correlate`, `replay`, `suppress`, `suppressions`, `unsuppress`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer

from aptwatch.cli.common import OutOpt, StoreOpt, WaitOpt, err_console, open_store, output, table_text
from aptwatch.cli.detect import IocsOpt, MinSevOpt, RulesOpt, SetOpt, parse_when, report_correlate, settings_from
from aptwatch.cli.ingest import BarProgress, PathsArg, WorkersOpt, check_paths
from aptwatch.correlate.engine import correlate as run_correlate
from aptwatch.correlate.feedback import suppress as run_suppress
from aptwatch.correlate.feedback import unsuppress as run_unsuppress
from aptwatch.correlate.replay import ReplayReport, SliceReport, parse_slice
from aptwatch.correlate.replay import replay as run_replay
from aptwatch.model.finding import iso
from aptwatch.store import Store
from aptwatch.store import correlation as cs


class ReplayFormat(StrEnum):
    table = "table"
    json = "json"


def correlate(store: StoreOpt = None, rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Forget correlation state and correlate every stored finding again.")] = False,
              wait: WaitOpt = 0.0) -> None:
    """Link new findings into campaigns (incremental: only findings not yet correlated are read)."""
    st = open_store(store)
    report_correlate(run_correlate(st, wait=wait, rebuild=rebuild))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m {sec}s"


def replay(
    paths: PathsArg,
    slice_: Annotated[str, typer.Option("--slice", help="Length of a time slice: 1d, 6h, 30m, ...")] = "1d",
    rules: RulesOpt = None, iocs: IocsOpt = None, min_severity: MinSevOpt = "low",
    store: Annotated[Path | None, typer.Option("--store", help="Keep the replay store in this new directory "
                                                               "(default: a temporary one, deleted).")] = None,
    fmt: Annotated[ReplayFormat, typer.Option("--format", "-f", help="Output format.")] = ReplayFormat.table,
    workers: WorkersOpt = None, out: OutOpt = None, option: SetOpt = None,
) -> None:
    """Feed data through ingest -> detect -> correlate in event-time slices; report when each campaign
    would have been detected."""
    check_paths(paths)
    step = parse_slice(slice_)
    settings = settings_from(rules, iocs, None, None, min_severity, option)
    console = err_console()
    bar = BarProgress(console)

    def on_slice(sl: SliceReport, i: int, n: int) -> None:
        det = f", detected {', '.join(sl.detected)}" if sl.detected else ""
        console.print(f"  slice {i}/{n} {iso(sl.start)}: {sl.events:,} events, {sl.findings:,} findings{det}",
                      markup=False)

    try:
        rep = run_replay(store, paths, settings, slice_len=step, workers=workers, ingest_progress=bar,
                         on_slice=on_slice)
    finally:
        bar.stop()
    write_replay(rep, fmt, out)
    if rep.failed:
        raise typer.Exit(1)


def write_replay(rep: ReplayReport, fmt: ReplayFormat, out: Path | None) -> None:
    with output(out) as f:
        if fmt == ReplayFormat.json:
            f.write(orjson.dumps(rep.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
            return
        cols = ["id", "detected", "first_seen", "detected_at", "reported_at", "time_to_detect", "stages", "hosts",
                "findings"]
        rows = [{
            "id": rc.campaign.id, "detected": "yes" if rc.campaign.detected_at else "no",
            "first_seen": iso(rc.campaign.first_seen), "detected_at": iso(rc.campaign.detected_at),
            "reported_at": iso(rc.reported_at), "time_to_detect": duration(rc.time_to_detect),
            "stages": " > ".join(rc.campaign.stages), "hosts": ", ".join(rc.campaign.hosts[:5])
            + (" ..." if len(rc.campaign.hosts) > 5 else ""), "findings": len(rc.campaign.findings),
        } for rc in rep.campaigns]
        n_det = sum(1 for rc in rep.campaigns if rc.campaign.detected_at)
        table_text(cols, rows, f, title=f"replay in {duration(rep.slice_seconds)} slices: {len(rows)} campaign(s), "
                                        f"{n_det} detected")


def suppress(
    target: Annotated[str | None, typer.Argument(help="Campaign id (c-...) or finding id (f-...).",
                                                 show_default=False)] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why it is benign (required).", show_default=False)] = "",
    rule: Annotated[str | None, typer.Option("--rule", help="Suppress every finding of this rule id.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="With --rule: only on this host.")] = None,
    author: Annotated[str | None, typer.Option("--author", help="Who decided.")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="Stop applying to new findings after this time "
                                                                  "(ISO time).")] = None,
    store: StoreOpt = None, wait: WaitOpt = 0.0,
) -> None:
    """Mark a campaign, a finding or a rule benign, with a reason; later runs honour it."""
    st = open_store(store)
    res = run_suppress(st, target=target, rule=rule, host=host, reason=reason, author=author,
                       expires=parse_when(expires), wait=wait)
    err_console().print(f"suppression {res.suppression.id} ({res.suppression.scope} {res.suppression.target}): "
                        f"{res.findings} finding(s) no longer count; {len(res.campaigns)} campaign(s) re-scored",
                        markup=False)
    with output(None) as f:
        f.write(res.suppression.id + "\n")


class SuppressionFormat(StrEnum):
    table = "table"
    json = "json"


def suppressions(store: StoreOpt = None, fmt: Annotated[SuppressionFormat, typer.Option(
        "--format", "-f", help="Output format.")] = SuppressionFormat.table, out: OutOpt = None) -> None:
    """List analyst feedback (suppressions)."""
    st = open_store(store)
    with st.state.connect(read_only=True) as con:
        items = cs.suppressions(con)
    with output(out) as f:
        if fmt == SuppressionFormat.json:
            f.write(orjson.dumps([s.to_json() for s in items], option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z
                                 | orjson.OPT_NAIVE_UTC).decode() + "\n")
            return
        rows = [{"id": s.id, "scope": s.scope, "target": s.target,
                 "host": s.conditions.get("host", "") if s.scope == "rule" else "", "reason": s.reason,
                 "author": s.author or "", "created_at": iso(s.created_at), "expires_at": iso(s.expires_at)}
                for s in items]
        table_text(["id", "scope", "target", "host", "reason", "author", "created_at", "expires_at"], rows, f,
                   title=f"{len(rows)} suppression(s)")


def unsuppress(sid: Annotated[str, typer.Argument(help="Suppression id (see `aptwatch suppressions`).",
                                                  show_default=False)],
               store: StoreOpt = None, wait: WaitOpt = 0.0) -> None:
    """Remove a suppression; its findings count again."""
    st = open_store(store)
    res = run_unsuppress(st, sid, wait=wait)
    err_console().print(f"removed {sid}: {res.findings} finding(s) count again; {len(res.campaigns)} campaign(s) "
                        "re-scored", markup=False)


__all__ = ["Store", "correlate", "replay", "suppress", "suppressions", "unsuppress"]
