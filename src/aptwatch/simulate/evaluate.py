"""Scoring aptwatch against a simulation's ground truth.

1. `label_events` joins the ground truth (file + line, or file + EventRecordID + host) to the
   stored events, in the engine, so it works whichever position a parser stores as `record`.
2. A finding is *true* when one of its evidence events is a planted malicious event; it then
   belongs to that event's campaign and stage.
3. A detected campaign (`detected_at` set) is *true* when most of its true findings belong to
   one planted campaign and it has at least one; otherwise it is a false campaign.

Metrics (bench/eval_simulated.py, `aptwatch demo`): campaign precision and recall, false
campaigns per 1,000 host-days, time to detect after the first malicious event, the planted
stages with at least one true finding, and finding precision.

The simulator is a test bench: these numbers measure aptwatch on data whose generator we
wrote; detection claims stand on the real datasets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Finding, parse_time
from aptwatch.model.killchain import STAGE_INDEX
from aptwatch.store.base import Session


@dataclass(frozen=True)
class Truth:
    """A simulation's ground truth, as written in `truth/`."""

    root: Path
    events: pa.Table
    campaigns: tuple[dict[str, Any], ...]
    hosts: int
    days: int

    def first_activity(self, campaign: str) -> datetime | None:
        for c in self.campaigns:
            if c["id"] == campaign:
                return parse_time(c.get("first_activity"))
        return None


def load_truth(out: Path) -> Truth:
    """Read `truth/ground_truth.jsonl`, `truth/campaigns.json` and `simulation.json` under `out`."""
    rows: dict[str, list[Any]] = defaultdict(list)
    with open(out / "truth" / "ground_truth.jsonl", "rb") as f:
        for line in f:
            r = orjson.loads(line)
            file = r["file"]
            rows["file"].append(file[:-3] if file.endswith(".gz") else file)
            rows["line"].append(r["line"])
            rows["record"].append(r.get("record"))
            rows["host"].append(r.get("host") or "")
            rows["campaign"].append(r["campaign"])
            rows["stage"].append(r["stage"])
            rows["technique"].append(r["technique"])
            rows["time"].append(parse_time(r["time"]))
    schema = pa.schema([("file", pa.string()), ("line", pa.int64()), ("record", pa.int64()), ("host", pa.string()),
                        ("campaign", pa.string()), ("stage", pa.string()), ("technique", pa.string()),
                        ("time", pa.timestamp("us", tz="UTC"))])
    table = pa.table({k: rows.get(k, []) for k in schema.names}, schema=schema)
    campaigns = tuple(orjson.loads((out / "truth" / "campaigns.json").read_bytes()))
    meta = orjson.loads((out / "simulation.json").read_bytes())
    return Truth(out, table, campaigns, int(meta["config"]["hosts"]), int(meta["config"]["days"]))


def label_events(session: Session, truth: Truth) -> pa.Table:
    """Stored events that are planted malicious events: event_id, campaign, stage, technique, time."""
    session.register("sim_truth", truth.events)
    # the path under the simulation folder: `.../logs/zeek/2024-03-04/conn.log[.gz][!member]`
    suffix = "regexp_replace(regexp_extract(e.source, '(logs/.*)$', 1), '(\\.gz)?(!.*)?$', '')"
    return session.sql(f"""
        WITH ev AS (SELECT e.event_id, e.record, e.host, {suffix} AS file FROM events e
                    WHERE e.source LIKE '%logs/%'),
        by_line AS (SELECT ev.event_id, t.campaign, t.stage, t.technique, t.time
                    FROM ev JOIN sim_truth t ON ev.file = t.file AND ev.record = t.line),
        by_record AS (SELECT ev.event_id, t.campaign, t.stage, t.technique, t.time
                      FROM ev JOIN sim_truth t ON ev.file = t.file AND ev.record = t.record
                       AND lower(ev.host) = lower(t.host)
                      WHERE t.record IS NOT NULL)
        SELECT DISTINCT * FROM (SELECT * FROM by_line UNION ALL SELECT * FROM by_record)
    """)


@dataclass
class Evaluation:
    """Scores of one run against one simulation."""

    planted: list[str]
    planted_stages: dict[str, list[str]]
    labelled_events: int
    truth_events: int
    findings: int
    true_findings: int
    stages_detected: dict[str, list[str]]
    detected_campaigns: int
    true_campaigns: int
    false_campaigns: int
    recalled: list[str]
    time_to_detect: dict[str, float | None]
    host_days: float
    finding_stage: dict[str, Counter[str]] = field(default_factory=dict)
    campaign_match: dict[str, str | None] = field(default_factory=dict)
    #: campaign -> stage -> titles of the findings on its planted events (most frequent first)
    stage_titles: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def campaign_precision(self) -> float | None:
        return self.true_campaigns / self.detected_campaigns if self.detected_campaigns else None

    @property
    def campaign_recall(self) -> float:
        return len(self.recalled) / len(self.planted) if self.planted else 0.0

    @property
    def false_per_1000_host_days(self) -> float:
        return self.false_campaigns / (self.host_days / 1000.0) if self.host_days else 0.0

    @property
    def finding_precision(self) -> float | None:
        return self.true_findings / self.findings if self.findings else None

    def to_json(self) -> dict[str, Any]:
        return {
            "planted": self.planted, "planted_stages": self.planted_stages,
            "truth_events": self.truth_events, "labelled_events": self.labelled_events,
            "findings": self.findings, "true_findings": self.true_findings,
            "finding_precision": self.finding_precision, "stages_detected": self.stages_detected,
            "detected_campaigns": self.detected_campaigns, "true_campaigns": self.true_campaigns,
            "false_campaigns": self.false_campaigns, "campaign_precision": self.campaign_precision,
            "campaign_recall": self.campaign_recall, "false_campaigns_per_1000_host_days":
                self.false_per_1000_host_days, "time_to_detect_seconds": self.time_to_detect,
            "campaign_match": self.campaign_match,
        }


def evaluate(truth: Truth, labels: pa.Table, findings: list[Finding], campaigns: list[Campaign]) -> Evaluation:
    """Score findings and campaigns against the ground truth (see module doc)."""
    by_event: dict[str, tuple[str, str]] = {}
    for r in labels.select(["event_id", "campaign", "stage"]).to_pylist():
        by_event[r["event_id"]] = (r["campaign"], r["stage"])
    planted = [c["id"] for c in truth.campaigns]
    planted_stages = {c["id"]: sorted(c.get("stages", {}), key=lambda s: STAGE_INDEX.get(s, 99))
                      for c in truth.campaigns}
    true_of: dict[str, Counter[str]] = {}
    stage_hits: dict[str, set[str]] = defaultdict(set)
    finding_stage: dict[str, Counter[str]] = defaultdict(Counter)
    titles: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for f in findings:
        hits = Counter(by_event[e.event_id] for e in f.evidence if e.event_id and e.event_id in by_event)
        if hits:
            true_of[f.id] = Counter(c for c, _st in hits.elements())
            for (c, st), _ in hits.items():
                stage_hits[c].add(st)
                finding_stage[c][st] += 1
                titles[c][st][f.title] += 1
    detected = [c for c in campaigns if c.detected_at is not None]
    true_campaigns, false_campaigns = 0, 0
    recalled: dict[str, datetime] = {}
    match: dict[str, str | None] = {}
    for camp in detected:
        votes: Counter[str] = Counter()
        for fid in camp.findings:
            votes.update(true_of.get(fid, Counter()))
        if votes:
            owner, _ = votes.most_common(1)[0]
            true_campaigns += 1
            match[camp.id] = owner
            at = camp.detected_at or datetime.max.replace(tzinfo=UTC)
            if owner not in recalled or at < recalled[owner]:
                recalled[owner] = at
        else:
            false_campaigns += 1
            match[camp.id] = None
    ttd: dict[str, float | None] = {}
    for cid in planted:
        first = truth.first_activity(cid)
        ttd[cid] = (recalled[cid] - first).total_seconds() if cid in recalled and first else None
    return Evaluation(
        planted, planted_stages, labels.num_rows, truth.events.num_rows, len(findings), len(true_of),
        {c: sorted(s, key=lambda x: STAGE_INDEX.get(x, 99)) for c, s in stage_hits.items()},
        len(detected), true_campaigns, false_campaigns, sorted(recalled), ttd, float(truth.hosts * truth.days),
        dict(finding_stage), match,
        {c: {st: [t for t, _ in n.most_common()] for st, n in by.items()} for c, by in titles.items()})
