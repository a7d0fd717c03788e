"""`aptwatch findings` and `aptwatch campaigns`: the stored results, as tables or JSON."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import orjson
import typer

from aptwatch.cli.common import OutOpt, StoreOpt, csv_rows, jsonl, open_store, output, table_text
from aptwatch.model.finding import Severity, iso
from aptwatch.store.read import load_campaigns, load_findings


class FindingFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


class CampaignFormat(StrEnum):
    table = "table"
    json = "json"


FINDING_COLUMNS = ["time", "severity", "stage", "detector", "title", "host", "user", "campaign", "id"]


def findings(
    store: StoreOpt = None,
    fmt: Annotated[FindingFormat, typer.Option("--format", "-f", help="Output format.")] = FindingFormat.table,
    min_severity: Annotated[str, typer.Option("--min-severity", help="informational|low|medium|high|critical"
                                              )] = "informational",
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's findings.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N findings.", min=1)] = None,
    out: OutOpt = None,
) -> None:
    """List findings. `--format jsonl` gives the finding contract of docs/cli.md, one per line."""
    st = open_store(store)
    floor = Severity.parse(min_severity).rank
    ranks = [s.value for s in Severity if s.rank >= floor]
    where = "list_contains(?, severity)"
    params: list[object] = [ranks]
    if campaign:
        where += " AND campaign = ?"
        params.append(campaign)
    with st.session(with_state=True) as s:
        items = load_findings(s, where, params, limit=limit)
    with output(out) as f:
        if fmt == FindingFormat.jsonl:
            jsonl((x.to_json() for x in items), f)
            return
        rows = [{"time": iso(x.time), "severity": x.severity.value, "stage": x.stage, "detector": x.detector,
                 "title": x.title, "host": ",".join(x.entities.get("host", ())),
                 "user": ",".join(x.entities.get("user", ())), "campaign": x.campaign, "id": x.id} for x in items]
        if fmt == FindingFormat.csv:
            csv_rows(FINDING_COLUMNS, rows, f)
        else:
            table_text(FINDING_COLUMNS, rows, f, title=f"{len(rows)} finding(s)")


def campaigns(
    store: StoreOpt = None,
    fmt: Annotated[CampaignFormat, typer.Option("--format", "-f", help="Output format.")] = CampaignFormat.table,
    out: OutOpt = None,
) -> None:
    """List campaigns with their stages, hosts and dwell time. `--format json` gives the campaign contract."""
    st = open_store(store)
    with st.session(with_state=True) as s:
        items = load_campaigns(s)
    with output(out) as f:
        if fmt == CampaignFormat.json:
            f.write(orjson.dumps([c.to_json() for c in items], option=orjson.OPT_INDENT_2).decode() + "\n")
            return
        cols = ["id", "score", "detected", "stages", "hosts", "first_seen", "detected_at", "last_seen", "dwell"]
        rows = [{
            "id": c.id, "score": f"{c.score:.2f}", "detected": "yes" if c.detected_at else "no",
            "stages": " > ".join(c.stages), "hosts": ", ".join(c.hosts[:6]) + (" ..." if len(c.hosts) > 6 else ""),
            "first_seen": iso(c.first_seen), "detected_at": iso(c.detected_at), "last_seen": iso(c.last_seen),
            "dwell": _duration(c.dwell_seconds),
        } for c in items]
        table_text(cols, rows, f, title=f"{len(rows)} campaign(s)")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    d, rem = divmod(int(seconds), 86400)
    h, rem = divmod(rem, 3600)
    m = rem // 60
    return f"{d}d {h}h" if d else f"{h}h {m}m"
