"""A self-contained HTML report (no scripts, no external assets): campaign summary with its
stages and dwell time, other campaigns, findings, and sections a caller adds.

Rendered with jinja2 with autoescaping on, so every value from logs (command lines, host
names, titles) is escaped; the template never marks anything `safe`.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import IO, Any

import jinja2

from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Finding, iso
from aptwatch.report.base import Exporter, ReportContext


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    d, rem = divmod(int(seconds), 86400)
    h, rem = divmod(rem, 3600)
    return f"{d}d {h}h {rem // 60}m" if d else f"{h}h {rem // 60}m"


def _environment() -> jinja2.Environment:
    text = resources.files("aptwatch.report").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, loader=jinja2.DictLoader({"report.html.j2": text}))
    env.filters["iso"] = iso
    env.filters["duration"] = _duration
    return env


class HtmlExporter(Exporter):
    name = "html"
    description = "Self-contained HTML report (escaped, no scripts)."
    extension = ".html"

    def export(self, campaign: Campaign | None, findings: Sequence[Finding], out: IO[str],
               context: ReportContext | None = None) -> None:
        ctx = context or ReportContext()
        stage_rows: list[dict[str, Any]] = []
        if campaign is not None:
            mine = [f for f in findings if f.id in set(campaign.findings)]
            for stage in campaign.stages:
                fs = [f for f in mine if f.stage == stage]
                stage_rows.append({
                    "stage": stage, "findings": len(fs),
                    "first": iso(min((f.time for f in fs), default=None)),
                    "hosts": ", ".join(sorted({h for f in fs for h in f.entities.get("host", ())}))})
        page = _environment().get_template("report.html.j2").render(
            ctx=ctx, campaign=campaign, stage_rows=stage_rows, findings=list(findings)[:5000],
            total_findings=len(findings), generated=iso(ctx.generated_at) if ctx.generated_at else None)
        out.write(page)
