"""Correlation over a store: long-horizon campaigns across hosts, glue resistance, incremental runs,
enrichment from events, analyst feedback."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptwatch.correlate import CorrelateSettings, correlate
from aptwatch.correlate.feedback import suppress, unsuppress
from aptwatch.errors import InputError
from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Finding
from aptwatch.store import Store
from aptwatch.store.read import load_campaigns
from tests.correlate.helpers import T0, days, finding, hours, minutes, put_events


def apt() -> list[Finding]:
    """March foothold on ws01, credential theft, lateral movement to srv02 with the stolen account,
    May exfiltration to the same C2 from srv02."""
    return [
        finding("phish_attachment", minutes(0), ["TA0001"], "medium", host="ws01", user="CORP\\alice"),
        finding("beacon", minutes(4), ["TA0011"], "medium", host="ws01", domain="upd.evil-cdn.example"),
        finding("whoami", minutes(15), ["TA0007"], "low", host="ws01", user="CORP\\alice"),
        finding("lsass_access", minutes(31), ["TA0006"], "high", host="ws01", user="CORP\\alice"),
        finding("psexec_service", days(2), ["TA0008"], "high", host="srv02", user="alice@corp.example",
                src_ip="10.0.0.5"),
        finding("svc_backup_logon", days(2) + minutes(1), ["TA0001"], "low", host="srv02", user="CORP\\svc_backup"),
        finding("dns_tunnel", days(70), ["TA0010"], "high", host="srv02", domain="upd.evil-cdn.example"),
    ]


def noise(hosts: int = 60) -> list[Finding]:
    """Background: every host talks to the DC and a CDN as SYSTEM, fires a chatty rule, and a few admins
    run tools — common entities that must not glue."""
    out = []
    for h in range(hosts):
        for d in range(0, 80, 7):
            out.append(finding("dc_ldap_query", days(d) + hours(h % 24), ["TA0007"], "low", key=f"{h}",
                               host=f"pc{h:03d}", dst_ip="10.0.0.1", user="NT AUTHORITY\\SYSTEM",
                               domain="cdn.vendor.example"))
        if h % 10 == 0:
            out.append(finding("admin_tool", days(h % 30) + hours(3), ["TA0002"], "medium", key=f"{h}",
                               host=f"pc{h:03d}", user="CORP\\helpdesk"))
    return out


def store_with(tmp_path: Path, findings: list[Finding]) -> Store:
    st = Store.open(tmp_path / "s", create=True)
    with st.writer("t") as w:
        w.write_findings(findings, "run1")
    return st


def campaigns_of(st: Store, where: str = "true") -> list[Campaign]:
    with st.session(with_state=True) as s:
        return load_campaigns(s, where)


def test_march_foothold_and_may_exfiltration_are_one_detected_campaign(tmp_path: Path) -> None:
    attack = apt()
    st = store_with(tmp_path, attack + noise())
    correlate(st)
    detected = campaigns_of(st, "detected_at IS NOT NULL")
    assert len(detected) == 1, [(c.id, c.stages, c.hosts) for c in detected]
    c = detected[0]
    assert set(c.findings) == {f.id for f in attack}
    assert c.hosts == ("srv02", "ws01") and "alice" in c.users
    assert c.stages == ("initial_compromise", "establish_foothold", "escalate_privileges", "internal_recon",
                        "lateral_movement", "data_exfiltration")
    assert c.first_seen == T0 and c.last_seen == T0 + days(70)
    # phishing -> beacon -> discovery: three stages in kill-chain order lift it over the threshold
    assert c.detected_at == T0 + minutes(15)
    assert c.dwell_seconds == 15 * 60
    ex = c.explanation
    assert ex["detected_by"] == attack[2].id and ex["score"]["total"] == pytest.approx(c.score)
    chain = ex["score"]["order"]["chain"]
    assert len(chain) == 5 and chain[:2] == ["initial_compromise", "establish_foothold"]
    assert chain[-2:] == ["lateral_movement", "data_exfiltration"]
    assert {s["stage"] for s in ex["stages"]} >= {"lateral_movement", "data_exfiltration"}


def test_common_entities_do_not_glue(tmp_path: Path) -> None:
    st = store_with(tmp_path, noise(80))
    correlate(st)
    assert campaigns_of(st, "detected_at IS NOT NULL") == []
    biggest = max((len(c.hosts) for c in campaigns_of(st)), default=0)
    assert biggest <= 2  # the DC address, the CDN and SYSTEM link nobody


def test_incremental_runs_give_the_same_campaign_as_one_run(tmp_path: Path) -> None:
    attack = apt()
    whole = store_with(tmp_path / "a", attack + noise(20))
    correlate(whole)
    parts = Store.open(tmp_path / "b" / "s", create=True)
    everything = sorted(attack + noise(20), key=lambda f: f.time)
    cuts = [T0 + days(1), T0 + days(30), T0 + days(1000)]
    done = 0
    for cut in cuts:
        batch = [f for f in everything if f.time < cut][done:]
        done += len(batch)
        with parts.writer("t") as w:
            w.write_findings(batch, "r")
        rep = correlate(parts)
        assert rep.findings == len(batch)  # only new findings are read: no recompute over history
    a = campaigns_of(whole, "detected_at IS NOT NULL")
    b = campaigns_of(parts, "detected_at IS NOT NULL")
    assert [(c.id, c.findings, c.detected_at, c.stages) for c in a] == [(c.id, c.findings, c.detected_at, c.stages)
                                                                        for c in b]
    assert correlate(parts).findings == 0


def test_rebuild_recomputes_the_same(tmp_path: Path) -> None:
    st = store_with(tmp_path, apt())
    correlate(st)
    before = [(c.id, c.findings, c.score) for c in campaigns_of(st)]
    rep = correlate(st, rebuild=True)
    assert rep.findings == len(apt()) and [(c.id, c.findings, c.score) for c in campaigns_of(st)] == before


def test_findings_point_at_their_campaign(tmp_path: Path) -> None:
    st = store_with(tmp_path, apt())
    correlate(st)
    c = campaigns_of(st)[0]
    with st.state.connect() as con:
        rows = dict(con.execute("SELECT id, campaign FROM findings").fetchall())
    assert all(rows[f] == c.id for f in c.findings)


def test_process_tree_and_logons_from_events(tmp_path: Path) -> None:
    st = Store.open(tmp_path / "s", create=True)
    t = T0
    proc = put_events(st, "process", [
        {"time": t, "host": "ws07", "process_guid": "{11111111-0000-0000-0000-000000000001}",
         "parent_process_guid": "{11111111-0000-0000-0000-0000000000aa}", "parent_path": "C:\\Temp\\dropper.exe",
         "process_path": "C:\\Windows\\System32\\cmd.exe"},
        {"time": t + days(3), "host": "ws07", "process_guid": "{11111111-0000-0000-0000-000000000002}",
         "parent_process_guid": "{11111111-0000-0000-0000-0000000000aa}", "parent_path": "C:\\Temp\\dropper.exe",
         "process_path": "C:\\Windows\\System32\\net.exe"},
    ], name="proc.json")
    put_events(st, "auth", [
        {"time": t + days(3) + minutes(5), "host": "srv09", "action": "logon", "outcome": "success",
         "logon_type": 3, "src_ip": "10.9.9.7", "workstation": "WS07", "target_user": "eve"},
    ], name="auth.json")
    put_events(st, "network", [
        {"time": t, "host": "ws07", "src_ip": "10.9.9.7", "dst_ip": "10.9.9.1", "initiated": True},
    ], name="net.json")
    from aptwatch.model.finding import Evidence

    f1 = Finding.build(detector="sigma", rule_id="susp_cmd", title="cmd from dropper", severity="medium", time=t,
                       tactics=["TA0002"], entities={"host": "ws07"},
                       evidence=[Evidence("proc.json", 1, "process", t, proc[0])])
    f2 = Finding.build(detector="sigma", rule_id="net_recon", title="net group", severity="low", time=t + days(3),
                       tactics=["TA0007"], entities={"host": "ws07"},
                       evidence=[Evidence("proc.json", 2, "process", t + days(3), proc[1])])
    f3 = Finding.build(detector="sigma", rule_id="remote_svc", title="service on srv09", severity="high",
                       time=t + days(3) + minutes(20), tactics=["TA0008"], entities={"host": "srv09"}, key=["x"])
    with st.writer("t") as w:
        w.write_findings([f1, f2, f3], "r")
    correlate(st)
    camps = campaigns_of(st)
    assert len(camps) == 1 and set(camps[0].findings) == {f1.id, f2.id, f3.id}, camps
    with st.state.connect() as con:
        links = dict(con.execute("SELECT finding_id, link FROM campaign_members").fetchall())
    assert links[f2.id] == "process"  # siblings under the dropper, three days apart
    assert links[f3.id] == "edge"  # network logon on srv09 from ws07's address, ws07 resolved by its connections


def test_feedback_campaign_benign_then_reopened_by_new_evidence(tmp_path: Path) -> None:
    attack = apt()
    st = store_with(tmp_path, attack[:4])
    correlate(st)
    c = campaigns_of(st, "detected_at IS NOT NULL")[0]
    res = suppress(st, target=c.id, reason="red team exercise RT-12", author="soc-l2")
    assert res.findings == 4 and res.campaigns == [c.id]
    after = campaigns_of(st, f"id = '{c.id}'")[0]
    assert after.status == "benign" and after.detected_at is None and after.score == 0.0
    assert after.explanation["feedback"][0]["reason"] == "red team exercise RT-12"
    correlate(st)  # a later run honours it
    assert campaigns_of(st, f"id = '{c.id}'")[0].status == "benign"
    with st.writer("t") as w:
        w.write_findings(attack[4:], "r2")
    correlate(st)
    again = campaigns_of(st, f"id = '{c.id}'")[0]
    assert again.status == "open" and again.detected_at == T0 + days(70)  # new evidence re-opened it
    assert "reopened" in again.explanation
    unsuppress(st, res.suppression.id)
    restored = campaigns_of(st, f"id = '{c.id}'")[0]
    assert restored.detected_at == T0 + minutes(15) and restored.status == "open"


def test_feedback_rule_and_finding(tmp_path: Path) -> None:
    attack = apt()
    st = store_with(tmp_path, attack[:4])
    correlate(st)
    before = campaigns_of(st)[0]
    suppress(st, rule="lsass_access", host="ws01", reason="EDR scanning LSASS")
    c = campaigns_of(st)[0]
    assert "escalate_privileges" not in c.stages and c.score < before.score
    extra = finding("lsass_access", minutes(50), ["TA0006"], "high", key="again", host="ws01")
    with st.writer("t") as w:
        w.write_findings([extra], "r2")
    rep = correlate(st)
    assert rep.suppressed == 1  # later findings of the rule are suppressed too
    with pytest.raises(InputError):
        suppress(st, target="f-doesnotexist", reason="x")
    with pytest.raises(InputError):
        suppress(st, target=c.id, reason=" ")
    r = suppress(st, target=attack[0].id, reason="known phishing test")
    assert r.findings == 1


def test_chunks_bound_memory_and_agree(tmp_path: Path) -> None:
    fs = apt() + noise(12)
    a = store_with(tmp_path / "a", fs)
    b = store_with(tmp_path / "b", fs)
    correlate(a)
    rep = correlate(b, CorrelateSettings(chunk_size=25))
    assert rep.chunks > 5
    key = [(c.id, c.findings, c.detected_at) for c in campaigns_of(a, "detected_at IS NOT NULL")]
    assert key == [(c.id, c.findings, c.detected_at) for c in campaigns_of(b, "detected_at IS NOT NULL")]


def test_shared_internal_peer_links_and_address_host_keys_resolve(tmp_path: Path) -> None:
    st = Store.open(tmp_path / "s", create=True)
    put_events(st, "network", [{"time": T0, "host": "ws07", "src_ip": "10.9.9.7", "dst_ip": "10.9.9.1",
                                "initiated": True}], name="net.json")
    host_side = finding("susp_download", minutes(0), ["TA0011"], "medium", host="ws07", dst_ip="10.66.0.9")
    # a network sensor's finding, 19 hours later, whose host key is the workstation's address
    wire_side = finding("zeek_beacon", hours(19), ["TA0011"], "medium", host="10.9.9.7", dst_ip="10.66.0.9")
    elsewhere = finding("smb_exec", hours(30), ["TA0008"], "high", host="srv03", src_ip="10.66.0.9")
    # an internal address is infrastructure, not an artifact: it links within the edge window (24 h),
    # not a week later
    later = finding("smb_exec2", days(9), ["TA0008"], "high", host="srv04", src_ip="10.66.0.9")
    with st.writer("t") as w:
        w.write_findings([host_side, wire_side, elsewhere, later], "r")
    correlate(st)
    with st.state.connect() as con:
        rows = {r[0]: r[1:] for r in con.execute("SELECT finding_id, campaign_id, host, link FROM campaign_members"
                                                 ).fetchall()}
    assert rows[wire_side.id][1] == "ws07"  # the address resolved to the host that uses it
    assert rows[host_side.id][0] == rows[wire_side.id][0] == rows[elsewhere.id][0]
    assert rows[wire_side.id][2] == "entity"  # the unmonitored peer 10.66.0.9 both talk to
    assert rows[later.id][0] != rows[host_side.id][0]


def test_progression_across_runs_uses_stored_stage_rates(tmp_path: Path) -> None:
    """Exploitation of web1, then privilege escalation 45 minutes later, on a host busy with unusual findings
    (every 20 minutes for a day, so proximity alone does not join): the progression link joins them, also
    when the escalation arrives in a later run, and its rate comes from `corr_host_stages`."""
    # a different rule each time: none becomes routine, every hour counts as unusual activity
    busy = [finding(f"odd_request_{i}", minutes(20 * i), [], "low", host="web1") for i in range(72)]
    exploit = finding("web_exploit", days(1) + minutes(5), ["TA0001"], "high", host="web1")
    sudo = finding("sudo_root", days(1) + minutes(50), ["TA0004"], "medium", host="web1")
    parts = Store.open(tmp_path / "s", create=True)
    with parts.writer("t") as w:
        w.write_findings([*busy, exploit], "r1")
    correlate(parts)
    with parts.state.connect(read_only=True) as con:
        stages = con.execute("SELECT host, stage, hours FROM corr_host_stages ORDER BY stage").fetchall()
    assert stages == [("web1", "initial_compromise", 1)]
    with parts.writer("t") as w:
        w.write_findings([sudo], "r2")
    correlate(parts)
    with parts.state.connect(read_only=True) as con:
        m = {r[0]: r[1:] for r in con.execute(
            "SELECT finding_id, campaign_id, link, why FROM campaign_members").fetchall()}
    assert m[sudo.id][0] == m[exploit.id][0] and m[sudo.id][1] == "progression"
    assert "initial_compromise then escalate_privileges" in m[sudo.id][2]
    # without the kill-chain reading (an unstaged finding at the same time) it stays apart
    other = Store.open(tmp_path / "o", create=True)
    plain = finding("odd_sudo", days(1) + minutes(50), [], "medium", host="web1")
    with other.writer("t") as w:
        w.write_findings([*busy, exploit, plain], "r1")
    correlate(other)
    with other.state.connect(read_only=True) as con:
        m = {r[0]: r[1] for r in con.execute("SELECT finding_id, campaign_id FROM campaign_members").fetchall()}
    assert m[plain.id] != m[exploit.id]
