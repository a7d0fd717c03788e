"""OTRF LSASS recordings: host and Zeek logs of one intrusion together -> one campaign with the right stages?

For each LSASS_campaign_NN of ../shared/data/otrf-compound present (the host log, JSON or zipped JSON,
and the Zeek log folder), the script runs `hunt` on a fresh store: ingest both, detect with the
SigmaHQ rules of ../shared/data/sigma (rules/, rules-threat-hunting/, rules-emerging-threats/) plus the
registered analytics, correlate. Ground truth is the recording's `_metadata/LSASS_campaign_NN.yaml`
(attack_mappings: the tactics the simulation covered), used by the evaluation only; resource
development (TA0042) is excluded, as the metadata says the data holds no trace of it.

Reported per recording: findings (host / network), campaigns, detected campaigns (goal: exactly one),
the main campaign's stages against the expected ones (the stages of the metadata's tactics under the
kill-chain mapping), whether it holds both host and network findings, and its dwell time.

Usage: python bench/eval_otrf_lsass.py [--recordings 01,02,03] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("APTWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
DATA = SHARED / "otrf-compound"
SIGMA = SHARED / "sigma"


@dataclass
class Result:
    recording: str
    findings: int = 0
    host_findings: int = 0
    network_findings: int = 0
    campaigns: int = 0
    detected: int = 0
    main: str | None = None
    main_findings: int = 0
    main_network: int = 0
    stages: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    dwell: float | None = None
    score: float = 0.0

    @property
    def stage_recall(self) -> float:
        return len(set(self.stages) & set(self.expected)) / len(self.expected) if self.expected else 0.0


def expected_stages(recording: str) -> list[str]:
    from aptwatch.model.killchain import STAGE_BY_TACTIC, STAGE_INDEX

    meta = yaml.safe_load((DATA / "_metadata" / f"{recording}.yaml").read_text())
    tactics = {t for m in meta.get("attack_mappings", []) for t in (m.get("tactics") or [])} - {"TA0042"}
    return sorted({STAGE_BY_TACTIC[t].value for t in tactics if t in STAGE_BY_TACTIC}, key=STAGE_INDEX.get)


def inputs(recording: str) -> list[Path]:
    folder = DATA / recording
    return sorted(p for p in folder.iterdir() if not p.name.endswith("_pcapng"))


def run(recording: str, workdir: Path) -> Result:
    from aptwatch.correlate import correlate
    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.ingest import ingest
    from aptwatch.model.finding import Severity
    from aptwatch.store import Store

    store_dir = workdir / recording
    shutil.rmtree(store_dir, ignore_errors=True)
    st = Store.open(store_dir, create=True)
    ingest(st, inputs(recording))
    from aptwatch.detect import DETECTORS

    rules = tuple(p for p in (SIGMA / "rules", SIGMA / "rules-threat-hunting", SIGMA / "rules-emerging-threats")
                  if p.exists()) if "sigma" in DETECTORS else ()
    run_detectors(st, DetectSettings(rule_paths=rules, min_severity=Severity.LOW))
    correlate(st)
    res = Result(recording, expected=expected_stages(recording))
    with st.state.connect(read_only=True) as con:
        # a network finding is one whose evidence comes from the Zeek logs (not, e.g., Sysmon DNS events)
        tables = con.execute("SELECT f.id, list(DISTINCT json_extract_string(e.value, '$.source')) "
                             "FROM findings f, json_each(f.evidence) e GROUP BY f.id").fetchall()
        camps = con.execute("SELECT id, findings, stages, detected_at, dwell_seconds, score FROM campaigns "
                            "ORDER BY len(findings) DESC").fetchall()
    net = {fid for fid, sources in tables if any("_zeek_logs" in (s or "") for s in sources or [])}
    res.findings = len(tables)
    res.network_findings = len(net)
    res.host_findings = res.findings - res.network_findings
    res.campaigns = len(camps)
    res.detected = sum(1 for c in camps if c[3] is not None)
    if camps:
        main = next((c for c in camps if c[3] is not None), camps[0])
        res.main, res.main_findings = main[0], len(main[1])
        res.main_network = sum(1 for f in main[1] if f in net)
        res.stages, res.dwell, res.score = list(main[2] or []), main[4], float(main[5])
    return res


def table(results: list[Result]) -> str:
    lines = ["| recording | findings (host / network) | campaigns | detected | main campaign findings (network) | "
             "stages found | expected stages | stage recall | score | dwell |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.recording} | {r.findings} ({r.host_findings} / {r.network_findings}) | {r.campaigns} | "
                     f"{r.detected} | {r.main_findings} ({r.main_network}) | {' > '.join(r.stages) or '-'} | "
                     f"{' > '.join(r.expected)} | {r.stage_recall:.0%} | {r.score:.2f} | "
                     f"{'-' if r.dwell is None else f'{r.dwell / 60:.0f} min'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", default="01,02,03")
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    from aptwatch.detect import DETECTORS

    print(f"detectors: {', '.join(DETECTORS.names())}" + ("" if "sigma" in DETECTORS else
                                                          " (no Sigma detector: SigmaHQ rules not run)"),
          file=sys.stderr)
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="aptwatch-otrf-"))
    results = []
    try:
        for n in args.recordings.split(","):
            rec = f"LSASS_campaign_{n.zfill(2)}"
            if not (DATA / rec).exists():
                print(f"{rec}: not present, skipped", file=sys.stderr)
                continue
            r = run(rec, workdir)
            results.append(r)
            print(table([r]).splitlines()[-1], file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))


if __name__ == "__main__":
    main()
