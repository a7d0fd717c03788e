"""`aptwatch findings` and `aptwatch campaigns`: the stored results, as tables or JSON."""

from __future__ import annotations

from enum import StrEnum
from typing import IO, Annotated

import orjson
import typer

from aptwatch.cli.common import OutOpt, StoreOpt, csv_rows, jsonl, open_store, output, table_text
from aptwatch.correlate.dwell import CampaignDetail, details
from aptwatch.errors import InputError
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
    campaign_id: Annotated[str | None, typer.Argument(help="Show one campaign in detail: stages with dwell time, "
                                                          "evidence, score and why each finding belongs.",
                                                     show_default=False)] = None,
    store: StoreOpt = None,
    fmt: Annotated[CampaignFormat, typer.Option("--format", "-f", help="Output format.")] = CampaignFormat.table,
    all_: Annotated[bool, typer.Option("--all", help="Also campaigns below the detection threshold and those "
                                                     "marked benign.")] = False,
    out: OutOpt = None,
) -> None:
    """List detected campaigns with their stages, hosts and dwell time. `--format json` gives the campaign contract."""
    st = open_store(store)
    with st.session(with_state=True) as s:
        if campaign_id:
            cid = campaign_id
            alias = s.sql("SELECT campaign_id FROM campaign_aliases WHERE alias = ?", [cid]).to_pylist()
            if alias:
                cid = alias[0]["campaign_id"]
            items = load_campaigns(s, "id = ?", [cid])
            if not items:
                raise InputError(f"no campaign {campaign_id!r} in this store")
        else:
            items = load_campaigns(s, "true" if all_ else "detected_at IS NOT NULL")
        detail = details(s, items) if (campaign_id or fmt == CampaignFormat.json) else []
    with output(out) as f:
        if fmt == CampaignFormat.json:
            f.write(orjson.dumps([d.to_json() for d in detail], option=orjson.OPT_INDENT_2).decode() + "\n")
            return
        if campaign_id:
            show_campaign(details_one(detail), f)
            return
        cols = ["id", "score", "status", "detected", "stages", "hosts", "first_seen", "detected_at", "last_seen",
                "dwell", "findings"]
        rows = [{
            "id": c.id, "score": f"{c.score:.2f}", "status": c.status, "detected": "yes" if c.detected_at else "no",
            "stages": " > ".join(c.stages), "hosts": ", ".join(c.hosts[:6]) + (" ..." if len(c.hosts) > 6 else ""),
            "first_seen": iso(c.first_seen), "detected_at": iso(c.detected_at), "last_seen": iso(c.last_seen),
            "dwell": _duration(c.dwell_seconds), "findings": len(c.findings),
        } for c in items]
        what = "campaign(s)" if all_ else "detected campaign(s) (--all: also undetected and benign)"
        table_text(cols, rows, f, title=f"{len(rows)} {what}")


def details_one(detail: list[CampaignDetail]) -> CampaignDetail:
    return detail[0]


def show_campaign(d: CampaignDetail, f: IO[str]) -> None:
    """One campaign: summary, stages with dwell, score components, findings with their links."""
    c = d.campaign
    ex = c.explanation or {}
    sc = ex.get("score") or {}
    f.write(f"campaign {c.id}  status {c.status}  score {c.score:.2f} (threshold {sc.get('threshold', '-')})\n")
    f.write(f"first evidence {iso(c.first_seen)}  detected {iso(c.detected_at) or 'no'}  last activity "
            f"{iso(c.last_seen)}  dwell {_duration(c.dwell_seconds)}\n")
    f.write(f"hosts: {', '.join(c.hosts) or '-'}\nusers: {', '.join(c.users) or '-'}\n")
    if ex.get("detected_by"):
        f.write(f"detected by finding {ex['detected_by']}\n")
    for fb in ex.get("feedback", []):
        f.write(f"marked benign ({fb.get('id')}) by {fb.get('author') or '-'} at {fb.get('at')}: {fb.get('reason')}\n")
    stage_rows = [{
        "stage": s.stage, "first_seen": iso(s.first_seen), "last_seen": iso(s.last_seen),
        "after_first": _duration((s.first_seen - c.first_seen).total_seconds()),
        "undetected_for": _duration((c.detected_at - s.first_seen).total_seconds())
        if c.detected_at and c.detected_at >= s.first_seen else "-",
        "findings": len(s.findings), "hosts": ", ".join(s.hosts[:4]),
        "evidence": ", ".join(s.findings[:3]) + (f" (+{len(s.findings) - 3})" if len(s.findings) > 3 else ""),
    } for s in d.stages]
    table_text(["stage", "first_seen", "last_seen", "after_first", "undetected_for", "findings", "hosts",
                "evidence"], stage_rows, f, title="kill chain (dwell per stage)")
    score_rows = [{"component": f"stage {p['stage']}", "points": f"{p['points']:.3f}",
                   "why": f"value {p['value']} x evidence {p['evidence']:.3f} from {p['rules_total']} rule(s): "
                          + ", ".join(f"{r['rule']} {r['weight']:.2f}" for r in p["rules"])}
                  for p in sc.get("stages", [])]
    spread = sc.get("spread") or {}
    score_rows.append({"component": "spread", "points": f"{spread.get('points', 0):.3f}",
                       "why": f"{spread.get('hosts', 0)} host(s)"})
    table_text(["component", "points", "why"], score_rows, f, title=f"score {sc.get('total', c.score)}: "
                                                                     f"{sc.get('rule', '')}")
    member_rows = [{
        "time": iso(m.time), "stage": m.stage, "host": m.host or "", "title": m.title[:60], "link": m.link,
        "weight": f"{m.link_weight:.2f}", "via": (m.why[0]["entity"] if m.why else "") + (
            f" <- {m.via}" if m.via else ""), "finding": m.finding + (" (suppressed)" if m.suppressed else ""),
    } for m in d.members[:500]]
    more = f" (first 500 of {len(d.members)})" if len(d.members) > 500 else ""
    table_text(["time", "stage", "host", "title", "link", "weight", "via", "finding"], member_rows, f,
               title=f"findings and why they belong{more}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    d, rem = divmod(int(seconds), 86400)
    h, rem = divmod(rem, 3600)
    m = rem // 60
    return f"{d}d {h}h" if d else f"{h}h {m}m"
