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
    ph = truth.campaigns[0]["hosts"][0]
    labels = pa.table({"event_id": ["e1", "e2"], "campaign": [cid, cid], "stage": ["lateral_movement",
                                                                                 "internal_recon"],
                       "technique": ["T1021.002", "T1087.002"], "time": [first, first]})
    t = first + timedelta(days=3)
    f_true, f_true2, f_false = _finding("a", ["e1"], t), _finding("b", ["e2", "zz"], t), _finding("c", ["zz"], t)
    good = Campaign("k1", 0.9, ("internal_recon", "lateral_movement"), t, t, t + timedelta(hours=5), (ph,), (),
                    (f_true.id, f_true2.id))
    bad = Campaign("k2", 0.8, ("lateral_movement",), t, t, t + timedelta(hours=1), ("srv",), (), (f_false.id,))
    quiet = Campaign("k3", 0.1, ("lateral_movement",), t, t, None, ("x",), (), (f_false.id,))
    ev = evaluate(truth, labels, [f_true, f_true2, f_false], [good, bad, quiet])
    assert ev.true_findings == 2 and ev.findings == 3
    assert ev.detected_campaigns == 2 and ev.true_campaigns == 1 and ev.false_campaigns == 1
    assert ev.campaign_precision == 0.5 and ev.campaign_recall == 1.0
    assert ev.campaign_match == {"k1": cid, "k2": None}
    assert ev.contaminated == 0 and ev.campaign_verdicts["k1"]["true"]
    assert ev.time_to_detect[cid] == pytest.approx((t + timedelta(hours=5) - first).total_seconds())
    assert ev.stages_detected[cid] == ["internal_recon", "lateral_movement"]
    assert ev.false_per_1000_host_days == pytest.approx(1 / (truth.hosts * truth.days / 1000))
    assert datetime.now(UTC) > first


def test_strict_rule_rejects_blobs_early_detection_and_benign_hosts(wlb: SimulationReport) -> None:
    """A campaign holding planted findings is still false when it was detected before the intrusion,
    when most of its weight is benign, or when most of its hosts never saw the attacker."""
    truth = load_truth(wlb.out)
    cid = truth.campaigns[0]["id"]
    first = truth.first_activity(cid)
    assert first is not None
    ph = truth.campaigns[0]["hosts"][0]
    labels = pa.table({"event_id": ["e1"], "campaign": [cid], "stage": ["lateral_movement"],
                       "technique": ["T1021.002"], "time": [first]})
    t = first + timedelta(days=1)
    f_true = _finding("a", ["e1"], t)
    noise = [_finding(f"n{i}", [f"z{i}"], t) for i in range(3)]
    ids = (f_true.id, *(n.id for n in noise))
    early = Campaign("early", 3.0, ("lateral_movement",), first - timedelta(days=9), t,
                     first - timedelta(days=5), (ph,), (), (f_true.id,))
    blob = Campaign("blob", 5.0, ("lateral_movement",), t, t, t, (ph,), (), ids)
    spread = Campaign("spread", 2.0, ("lateral_movement",), t, t, t, (ph, "bkp01", "cm01"), (), (f_true.id,))
    ev = evaluate(truth, labels, [f_true, *noise], [early, blob, spread])
    assert ev.true_campaigns == 0 and ev.false_campaigns == 3 and ev.contaminated == 3
    assert ev.campaign_recall == 0.0 and ev.time_to_detect[cid] is None
    v = ev.campaign_verdicts
    assert "before the first planted event" in v["early"]["why"][0]
    assert v["blob"]["weight_share"] == pytest.approx(0.25) and "finding weight" in v["blob"]["why"][0]
    assert v["spread"]["host_share"] == pytest.approx(1 / 3, abs=1e-3) and "hosts carry" in v["spread"]["why"][0]
    # member weights from correlation decide the majority: the planted finding outweighs the noise
    ev2 = evaluate(truth, labels, [f_true, *noise], [blob], {f_true.id: 1.0, **{n.id: 0.1 for n in noise}})
    assert ev2.true_campaigns == 1 and ev2.campaign_verdicts["blob"]["weight_share"] == pytest.approx(1 / 1.3, abs=1e-3)
