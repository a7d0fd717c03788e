"""Positive and negative cases of every analytic on real public data (../shared/data).

Each case ingests one real file with aptwatch's own sources into a fresh store and runs one analytic
with default settings. Ground-truth columns (Stratosphere `label` / `detailedlabel`) are never read by
an analytic; the blanking test proves that they do not change a finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aptwatch.ingest import ingest
from aptwatch.store import Store
from tests.analytics.lake import detect

pytestmark = pytest.mark.shared
CTU = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,147.32.0.0/16,fc00::/7,fe80::/10"


def store_with(tmp_path: Path, *paths: Path) -> Store:
    st = Store.open(tmp_path / "store", create=True)
    ingest(st, [str(p) for p in paths])
    return st


def ents(findings: list, rule_prefix: str, kind: str) -> set[str]:
    return {v for f in findings if f.rule_id.startswith(rule_prefix) for v in f.entities.get(kind, ())}


# -- beaconing ---------------------------------------------------------------------------
def test_beacon_njrat_c2_found(shared, tmp_path: Path) -> None:
    st = store_with(tmp_path, shared("stratosphere-zeek", "001-zeek-scenario-malicious", "labeled-conn.log"))
    findings, _ = detect(st, ["beacon"])
    assert [(f.entities["src_ip"], f.entities["dst_ip"]) for f in findings] == [
        (("192.168.1.115",), ("41.108.179.197",))]
    assert findings[0].evidence and findings[0].evidence[0].source.endswith("labeled-conn.log")


def test_beacon_labels_are_not_read(shared, tmp_path: Path) -> None:
    """Blanking the ground-truth columns of a labelled conn.log changes no finding."""
    src = shared("stratosphere-zeek", "001-zeek-scenario-malicious", "labeled-conn.log")
    lines = src.read_text().splitlines()
    fields = next(ln for ln in lines if ln.startswith("#fields")).split("\t")[1:]
    li, di = fields.index("label"), fields.index("detailedlabel")
    out = []
    for ln in lines:
        if ln.startswith("#") or not ln:
            out.append(ln)
            continue
        parts = ln.split("\t")
        parts[li] = parts[di] = "-"
        out.append("\t".join(parts))
    blank = tmp_path / "in" / "labeled-conn.log"
    blank.parent.mkdir()
    blank.write_text("\n".join(out) + "\n")
    a, _ = detect(store_with(tmp_path / "a", src), ["beacon"])
    b, _ = detect(store_with(tmp_path / "b", blank), ["beacon"])
    assert [(f.rule_id, f.entities, f.score) for f in a] == [(f.rule_id, f.entities, f.score) for f in b]


def test_beacon_jittered_curl_beacon_from_pcap(shared, tmp_path: Path) -> None:
    st = store_with(tmp_path, shared("slips-dataset", "test-cc", "test-cc-capture-2.pcap"))
    findings, _ = detect(st, ["beacon"], **{"analytics.internal_cidrs": CTU})
    assert "147.32.80.37" in ents(findings, "beacon", "src_ip")
    assert "141.193.213.20" in ents(findings, "beacon", "dst_ip")


def test_beacon_normal_day_has_no_finding(shared, tmp_path: Path) -> None:
    st = store_with(tmp_path, shared("stratosphere-zeek", "010-zeek-mixed", "data", "conn.log.labeled"))
    findings, report = detect(st, ["beacon", "exfil"], **{"analytics.internal_cidrs": CTU})
    assert report.stats["beacon"]["scored_pairs"] > 50  # plenty was scored, nothing passed
    assert findings == []


# -- DNS -----------------------------------------------------------------------------------
def test_dns2tcp_tunnel_found(shared, tmp_path: Path) -> None:
    st = store_with(tmp_path, shared("dns-tunnel-pcaps", "pcaps", "dns2tcp", "learn.netrack.github.com.pcap"))
    findings, _ = detect(st, ["dns"])
    assert ents(findings, "dns.tunnel", "domain") == {"hidemyself.org"}


def test_simda_dga_host_found_and_normal_day_clean(shared, tmp_path: Path) -> None:
    st = store_with(tmp_path / "a", shared("stratosphere-zeek", "005-zeek-scenario-malicious", "dns.log"))
    findings, _ = detect(st, ["dns"])
    assert "192.168.1.116" in ents(findings, "dns.dga", "src_ip")
    clean = store_with(tmp_path / "b", shared("stratosphere-zeek", "010-zeek-mixed", "data", "dns.log.labeled"))
    assert detect(clean, ["dns"])[0] == []


# -- host analytics on EVTX-ATTACK-SAMPLES ---------------------------------------------------
def test_lateral_wmiexec_and_pass_the_hash(shared, tmp_path: Path) -> None:
    lm = shared("evtx-attack-samples", "Lateral Movement")
    st = store_with(tmp_path, lm / "LM_wmiexec_impacket_sysmon_whoami.evtx",
                    lm / "LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx")
    findings, _ = detect(st, ["lateral"])
    rules = {f.rule_id for f in findings}
    assert {"lateral.remote_exec_parent", "lateral.pth_seclogo"} <= rules
    wmi = [f for f in findings if f.rule_id == "lateral.remote_exec_parent"]
    assert all("T1047" in f.techniques for f in wmi)


def test_lateral_winrs_security_only_wmi_and_remote_task_update(shared, tmp_path: Path) -> None:
    """WinRS (winrshost.exe parent), WMI seen only in Security 4688 of a pre-Windows 10 host (no parent image:
    resolved from the creator PID) and a task updated (4702) from a network logon session."""
    lm = shared("evtx-attack-samples", "Lateral Movement")
    st = store_with(tmp_path, lm / "LM_winrm_exec_sysmon_1_winrshost.evtx", lm / "LM_WMI_4624_4688_TargetHost.evtx",
                    lm / "remote task update 4624 4702 same logonid.evtx")
    findings, _ = detect(st, ["lateral"])
    got = {(f.rule_id, f.extra.get("mechanism")) for f in findings if f.rule_id != "lateral.new_edge"}
    assert ("lateral.remote_exec_parent", "WinRM (WinRS)") in got
    assert ("lateral.remote_exec_parent", "WMI") in got
    wmi = [f for f in findings if f.extra.get("mechanism") == "WMI"]
    assert [f.entities["process"] for f in wmi] == [("calc.exe",)]
    task = [f for f in findings if f.rule_id == "lateral.remote_task"]
    assert len(task) == 1 and "updated" in task[0].title and task[0].entities["src_ip"]


def test_lateral_nothing_on_a_discovery_sample(shared, tmp_path: Path) -> None:
    st = store_with(tmp_path, shared("evtx-attack-samples", "Discovery", "discovery_bloodhound.evtx"))
    findings, _ = detect(st, ["lateral"])
    assert [f for f in findings if f.rule_id != "lateral.new_edge"] == []


def test_short_otrf_recording_content_rules_fire_first_seen_rules_say_they_are_learning(shared,
                                                                                       tmp_path: Path) -> None:
    """A ten-minute OTRF recording (Covenant SharpWMI, host JSON + pcap) in a store with no history: the WMI
    remote execution is found by content rules, first-seen rules stay silent and the run says why; the
    hunting setting learn_days=0 turns them on for the recording (network-only first-seen edges included)."""
    lm = shared("otrf-atomic", "windows", "lateral_movement")
    name = "covenant_sharpwmi_create_dcerpc_wmi"
    paths = (lm / "host" / name / f"{name}_2020-08-06035621.json.gz",
             lm / "network" / name / f"{name}_2020-08-06035621.cap")
    st = store_with(tmp_path / "a", *paths)
    findings, rep = detect(st, ["lateral", "exfil"])
    session = [f for f in findings if f.rule_id == "lateral.remote_exec_session"]
    assert session and "172.18.39.5" in session[0].entities["src_ip"] and "T1047" in session[0].techniques
    assert [f for f in findings if f.rule_id == "lateral.new_edge"] == []
    assert any(n.startswith("lateral: baseline learning for 7 days from 2020-08-06") and "learn_days=0" in n
               for n in rep.notes)
    assert any(n.startswith("exfil: 1 UTC day(s)") for n in rep.notes)
    hunt = store_with(tmp_path / "b", *paths)
    findings, rep = detect(hunt, ["lateral"], **{"analytics.learn_days": 0})
    edges = {f.extra["edge"] for f in findings if f.rule_id == "lateral.new_edge"}
    assert "flow|rpc|172.18.39.5|172.18.39.6" in edges  # attacker -> target, from the pcap alone
    assert "logon|172.18.39.5|workstation6" in edges
    assert not [n for n in rep.notes if n.startswith("lateral:")]


def test_lineage_webshell_spawning_cmd(shared, tmp_path: Path) -> None:
    st = store_with(tmp_path, shared("evtx-attack-samples", "Lateral Movement",
                                     "LM_typical_IIS_webshell_sysmon_1_10_traces.evtx"))
    findings, _ = detect(st, ["lineage"])
    assert any(f.rule_id == "lineage.lolbin_parent" and f.entities["process"] == ("w3wp.exe", "cmd.exe")
               for f in findings)


def test_privilege_lsass_dump_and_admin_group_add(shared, tmp_path: Path) -> None:
    ca = shared("evtx-attack-samples", "Credential Access")
    st = store_with(tmp_path, ca / "sysmon_10_lsass_mimikatz_sekurlsa_logonpasswords.evtx",
                    shared("evtx-attack-samples", "Persistence", "Network_Service_Guest_added_to_admins_4732.evtx"))
    findings, _ = detect(st, ["privilege"])
    rules = {f.rule_id for f in findings}
    assert {"privilege.lsass_access", "privilege.group_add"} <= rules


def test_privilege_quiet_on_a_discovery_sample(shared, tmp_path: Path) -> None:
    st = store_with(tmp_path, shared("evtx-attack-samples", "Discovery", "discovery_psloggedon.evtx"))
    assert detect(st, ["privilege"])[0] == []


def test_persistence_wmi_consumer_and_winlogon_shell(shared, tmp_path: Path) -> None:
    p = shared("evtx-attack-samples", "Persistence")
    st = store_with(tmp_path, p / "sysmon_20_21_1_CommandLineEventConsumer.evtx",
                    p / "sysmon_13_1_persistence_via_winlogon_shell.evtx")
    findings, _ = detect(st, ["persistence"])
    techniques = {t for f in findings for t in f.techniques}
    assert "T1546.003" in techniques and "T1547.004" in techniques


@pytest.mark.parametrize("history_account", ["pgustavo", "admin"])
def test_lateral_routine_administration_on_a_real_remote_service_creation(shared, tmp_path: Path,
                                                                          history_account: str) -> None:
    """OTRF SharpSC service creation over SMB (172.18.39.5 as pgustavo -> workstation6). When the same
    source and account installed services after network logons on five other hosts over the two weeks
    before (a fixture written here), the recording's installs are that actor's routine and are not
    reported; its svcctl pipe use (a method the history never showed) still is. With the history under
    another account nothing is routine."""
    from tests.analytics.lake import write
    from tests.analytics.test_routine_admin import merge, psexec

    name = "covenant_sharpsc_create_dcerpc_smb_svcctl.zip"
    path = shared("otrf-atomic", "windows", "lateral_movement", "host", name)
    st = Store.open(tmp_path / "store", create=True)
    t0 = 1595203200.0  # 2020-07-20, 17 days before the recording
    write(st, merge(*(psexec(t0 + d * 86400 + 3600, f"srv{d % 5}", user=history_account, src="172.18.39.5",
                             service="BackupAgent", image="C:\\Program Files\\Backup\\agent.exe")
                      for d in range(0, 14, 2))))
    detect(st, ["lateral"])
    ingest(st, [str(path)])
    findings, rep = detect(st, ["lateral"])
    rules = {f.rule_id for f in findings}
    assert "lateral.remote_pipe" in rules  # svcctl over IPC$: a method the history never showed
    routine = [n for n in rep.notes if "routine remote administration" in n]
    # the source's first-seen logon to workstation6 is routine either way: that source reaching new hosts
    # is what its history shows, whoever logged on
    assert routine
    user_edge = [f for f in findings if f.extra.get("edge") == "user|pgustavo|workstation6"]
    installs = [f for f in findings if f.rule_id == "lateral.service_install"]
    if history_account == "pgustavo":
        assert not installs and not user_edge
    else:  # another account from the same source: the installs and the account's new host are reported
        assert len(installs) == 2 and {f.extra["remote"]["account"] for f in installs} == {"pgustavo"}
        assert len(user_edge) == 1
