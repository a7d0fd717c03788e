"""Ground truth joins stored events whatever position parsers record; campaign scoring rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from aptwatch.ingest import ingest
from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Evidence, Finding
from aptwatch.simulate.engine import SimulationReport
from aptwatch.simulate.evaluate import evaluate, label_events, load_truth
from aptwatch.store import Store


@pytest.fixture(scope="module")
def stored(wlb: SimulationReport, tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("store") / "s", create=True)
    ingest(store, [wlb.out / "logs"])
    return store


def test_every_truth_event_in_an_ingested_file_is_labelled(wlb: SimulationReport, stored: Store) -> None:
    truth = load_truth(wlb.out)
    with stored.session() as s:
        labels = label_events(s, truth)
        sources = {r["source"] for r in s.sql("SELECT DISTINCT source FROM events").to_pylist()}
    ingested = {src[src.index("logs/"):].removesuffix(".gz") for src in sources if "logs/" in src}
    expected = sum(1 for f in truth.events.column("file").to_pylist() if f in ingested)
    assert expected > 0
    assert labels.num_rows == expected  # exactly the planted events of the files aptwatch read
    assert set(labels.column("campaign").to_pylist()) == {truth.campaigns[0]["id"]}


def _finding(fid: str, events: list[str], t: datetime) -> Finding:
    f = Finding.build(detector="test", rule_id=fid, title=fid, severity="high", time=t,
                      evidence=[Evidence("x", 1, "process", t, e) for e in events], key=[fid])
    return f


def test_campaign_scoring_rules(wlb: SimulationReport) -> None:
    truth = load_truth(wlb.out)
    cid = truth.campaigns[0]["id"]
    first = truth.first_activity(cid)
    assert first is not None
    labels = pa.table({"event_id": ["e1", "e2"], "campaign": [cid, cid], "stage": ["lateral_movement",
                                                                                 "internal_recon"],
                       "technique": ["T1021.002", "T1087.002"], "time": [first, first]})
    t = first + timedelta(days=3)
    f_true, f_true2, f_false = _finding("a", ["e1"], t), _finding("b", ["e2", "zz"], t), _finding("c", ["zz"], t)
    good = Campaign("k1", 0.9, ("internal_recon", "lateral_movement"), t, t, t + timedelta(hours=5), ("ws",), (),
                    (f_true.id, f_true2.id))
    bad = Campaign("k2", 0.8, ("lateral_movement",), t, t, t + timedelta(hours=1), ("srv",), (), (f_false.id,))
    quiet = Campaign("k3", 0.1, ("lateral_movement",), t, t, None, ("x",), (), (f_false.id,))
    ev = evaluate(truth, labels, [f_true, f_true2, f_false], [good, bad, quiet])
    assert ev.true_findings == 2 and ev.findings == 3
    assert ev.detected_campaigns == 2 and ev.true_campaigns == 1 and ev.false_campaigns == 1
    assert ev.campaign_precision == 0.5 and ev.campaign_recall == 1.0
    assert ev.campaign_match == {"k1": cid, "k2": None}
    assert ev.time_to_detect[cid] == pytest.approx((t + timedelta(hours=5) - first).total_seconds())
    assert ev.stages_detected[cid] == ["internal_recon", "lateral_movement"]
    assert ev.false_per_1000_host_days == pytest.approx(1 / (truth.hosts * truth.days / 1000))
    assert datetime.now(UTC) > first
