"""Scoring aptwatch against a simulation's ground truth.

1. `label_events` joins the ground truth (file + line, or file + EventRecordID + host) to the
   stored events, in the engine, so it works whichever position a parser stores as `record`.
2. A finding is *true* when one of its evidence events is a planted malicious event; it then
   belongs to that event's campaign and stage.
3. A detected campaign (`detected_at` set) is matched to the planted campaign most of its true
   findings belong to, and is *true* only when all of these hold (the strict rule; anything else,
   including a blob of benign findings that swallowed a few planted ones, is a *false* campaign):

   - **timing**: it was detected at or after the planted campaign's first malicious event (a
     campaign that crossed the threshold before the intrusion began was detected on benign life);
   - **findings**: more than half of its findings' weight is on findings with evidence in the
     planted campaign (weight: the finding's evidence weight in the campaign score, from
     `campaign_members.weight` when the store has it, else its severity weight; a weightless
     finding counts 0.1);
   - **hosts**: more than half of its hosts carry planted events of that campaign.

   Each detected campaign gets a verdict (`campaign_verdicts`) with these numbers and, when false,
   the reasons; `contaminated` counts false campaigns that nevertheless hold planted findings.

Metrics (bench/eval_simulated.py, `aptwatch demo`): campaign precision and recall, false
campaigns per 1,000 host-days, time to detect after the first malicious event, the planted
stages with at least one true finding, and finding precision.

The simulator is a test bench: these numbers measure aptwatch on data whose generator we
wrote; detection claims stand on the real datasets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Finding, parse_time
from aptwatch.model.hosts import host_key
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
    #: detected campaign -> {true, planted, weight_share, host_share, why} (the strict rule)
    campaign_verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: false campaigns that nevertheless hold findings on planted events
    contaminated: int = 0

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
            "campaign_match": self.campaign_match, "campaign_verdicts": self.campaign_verdicts,
            "contaminated_campaigns": self.contaminated,
        }


#: finding weight by severity when the store has no correlation weights (correlate/settings.py values)
SEVERITY_WEIGHT = {"informational": 0.1, "low": 0.25, "medium": 0.5, "high": 0.75, "critical": 1.0}
#: the share of weight and of hosts a detected campaign must exceed to be true
MAJORITY = 0.5


def member_weights(session: Session) -> dict[str, float]:
    """Each correlated finding's evidence weight (`campaign_members.weight`); empty without correlation."""
    try:
        rows = session.sql("SELECT finding_id, weight FROM campaign_members WHERE weight IS NOT NULL").to_pylist()
    except Exception:  # no correlation state in this store: severity weights are used instead
        return {}
    return {r["finding_id"]: float(r["weight"]) for r in rows}


def _weight(f: Finding, weights: Mapping[str, float]) -> float:
    w = weights.get(f.id)
    if w is None:
        w = SEVERITY_WEIGHT.get(f.severity.value, 0.1)
    return max(w, 0.1)


def evaluate(truth: Truth, labels: pa.Table, findings: list[Finding], campaigns: list[Campaign],
             weights: Mapping[str, float] | None = None) -> Evaluation:
    """Score findings and campaigns against the ground truth (see module doc for the strict rule).
    `weights`: finding id -> evidence weight (`member_weights`); severity weights when absent."""
    weights = weights or {}
    by_event: dict[str, tuple[str, str]] = {}
    for r in labels.select(["event_id", "campaign", "stage"]).to_pylist():
        by_event[r["event_id"]] = (r["campaign"], r["stage"])
    planted = [c["id"] for c in truth.campaigns]
    planted_stages = {c["id"]: sorted(c.get("stages", {}), key=lambda s: STAGE_INDEX.get(s, 99))
                      for c in truth.campaigns}
    planted_hosts: dict[str, set[str]] = defaultdict(set)
    first_event: dict[str, datetime] = {}
    for r in truth.events.select(["campaign", "host", "time"]).to_pylist():
        h = host_key(r["host"])
        if h:
            planted_hosts[r["campaign"]].add(h)
        t = r["time"]
        if t is not None and (r["campaign"] not in first_event or t < first_event[r["campaign"]]):
            first_event[r["campaign"]] = t
    for pc in truth.campaigns:
        planted_hosts[pc["id"]].update(k for k in (host_key(h) for h in pc.get("hosts", [])) if k)
        fa = truth.first_activity(pc["id"])
        if fa is not None:
            first_event[pc["id"]] = min(fa, first_event.get(pc["id"], fa))
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
    by_id = {f.id: f for f in findings}
    detected = [c for c in campaigns if c.detected_at is not None]
    true_campaigns, false_campaigns, contaminated = 0, 0, 0
    recalled: dict[str, datetime] = {}
    match: dict[str, str | None] = {}
    verdicts: dict[str, dict[str, Any]] = {}
    for camp in detected:
        votes: Counter[str] = Counter()
        for fid in camp.findings:
            votes.update(true_of.get(fid, Counter()))
        if not votes:
            false_campaigns += 1
            match[camp.id] = None
            verdicts[camp.id] = {"true": False, "planted": None, "weight_share": 0.0, "host_share": 0.0,
                                 "why": ["no finding on a planted event"]}
            continue
        contaminated += 1
        owner, _ = votes.most_common(1)[0]
        total = on_planted = 0.0
        for fid in camp.findings:
            member = by_id.get(fid)
            if member is None:
                continue
            w = _weight(member, weights)
            total += w
            if owner in true_of.get(fid, ()):
                on_planted += w
        w_share = on_planted / total if total else 0.0
        hosts = {k for k in (host_key(h) for h in camp.hosts) if k}
        h_share = len(hosts & planted_hosts[owner]) / len(hosts) if hosts else 0.0
        first = first_event.get(owner)
        at = camp.detected_at
        why = []
        if first is not None and at is not None and at < first:
            why.append(f"detected {(first - at).total_seconds() / 86400:.1f} days before the first planted event")
        if w_share <= MAJORITY:
            why.append(f"{100 * w_share:.0f}% of its finding weight is on planted events")
        if h_share <= MAJORITY:
            why.append(f"{len(hosts & planted_hosts[owner])} of its {len(hosts)} hosts carry planted events")
        ok = not why
        verdicts[camp.id] = {"true": ok, "planted": owner, "weight_share": round(w_share, 4),
                             "host_share": round(h_share, 4), "why": why}
        if ok and at is not None:
            contaminated -= 1
            true_campaigns += 1
            match[camp.id] = owner
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
        {c: {st: [t for t, _ in n.most_common()] for st, n in by.items()} for c, by in titles.items()},
        verdicts, contaminated)
