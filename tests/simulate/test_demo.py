"""`aptwatch demo` end to end on a small configuration, and the HTML report's escaping."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from aptwatch.detect import DETECTORS
from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Evidence, Finding
from aptwatch.report import EXPORTERS
from aptwatch.report.base import ReportContext, Section


def test_demo_end_to_end(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    r = subprocess.run([sys.executable, "-m", "aptwatch.cli.main", "demo", "--hosts", "12", "--days", "4",
                        "--seed", "3", "--noise", "0.3", "--out", str(tmp_path / "sim"), "--report", str(report)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Planted (ground truth): APT29 (G0016)" in out
    for stage in ("reconnaissance", "initial_compromise", "lateral_movement", "data_exfiltration",
                  "maintain_presence"):
        assert stage in out
    assert "demo: simulate + ingest" in r.stderr and "demo: detect" in r.stderr  # progress on stderr
    ingested = int(out.split("aptwatch: ingested ")[1].split(" events")[0].replace(",", ""))
    assert ingested > 1000
    if len(DETECTORS) == 0:
        assert "no detector registered" in out
    else:
        assert "finding" in out
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Planted campaign (ground truth)" in html
    assert "<script" not in html
    assert (tmp_path / "sim" / "simulation" / "truth" / "ground_truth.jsonl").exists()


def test_html_report_escapes_log_content() -> None:
    t = datetime(2024, 3, 5, tzinfo=UTC)
    evil = "<script>alert('x')</script>"
    f = Finding.build(detector="sigma", rule_id="r1", title=f"cmd {evil}", severity="high", time=t,
                      tactics=["TA0002"], entities={"host": f"ws1{evil}"}, evidence=[Evidence("a", 1, "process", t)])
    c = Campaign("c1", 0.7, ("establish_foothold",), t, t, t, (f"h{evil}",), ("u",), (f.id,))
    buf = io.StringIO()
    ctx = ReportContext(title=f"T {evil}", generated_at=t, summary={"k": evil},
                        sections=[Section(f"S {evil}", ["a"], [{"a": evil}], note=evil)], campaigns=[c])
    EXPORTERS["html"].export(c, [f], buf, ctx)
    html = buf.getvalue()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("&lt;script&gt;") >= 6
