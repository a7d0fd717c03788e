"""Lateral movement: remote execution linked to network logons, service installs, PtH, first-seen edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptwatch.store import Store
from tests.analytics.lake import detect, write

T0 = 1596700000.0  # 2020-08-06


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store.open(store_dir, create=True)


def logon(t: float, host: str, user: str, src: str, logon_id: str, ltype: int = 3, package: str = "Kerberos",
          process: str = "Kerberos", key_length: str = "0") -> dict:
    return {"time": t, "host": host, "event_code": 4624, "action": "logon", "outcome": "success",
            "target_user": user, "target_domain": "THESHIRE", "logon_id": logon_id, "logon_type": ltype,
            "src_ip": src, "logon_process": process, "auth_package": package,
            "data": f'{{"KeyLength": "{key_length}"}}'}


def proc(t: float, host: str, image: str, parent: str, logon_id: str, user: str = "THESHIRE\\pgustavo",
         cmd: str | None = None) -> dict:
    return {"time": t, "host": host, "event_code": 1, "action": "start", "process_path": image, "parent_path": parent,
            "logon_id": logon_id, "user": user, "command_line": cmd or image}


def test_wmi_process_in_network_logon_session(store: Store) -> None:
    auth = [logon(T0, "workstation6", "pgustavo", "172.18.39.5", "0xc93745"),
            logon(T0 - 50, "workstation6", "pgustavo", "::1", "0xc93700")]
    process = [proc(T0 + 1, "workstation6", "C:\\Windows\\System32\\GruntHTTP2.exe",
                    "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", "0xc93745"),
               # local: WmiPrvSE started by svchost in the SYSTEM session: not lateral movement
               proc(T0, "workstation6", "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
                    "C:\\Windows\\System32\\svchost.exe", "0x3e4", user="NT AUTHORITY\\NETWORK SERVICE"),
               proc(T0 + 5, "workstation6", "C:\\Windows\\System32\\notepad.exe",
                    "C:\\Windows\\explorer.exe", "0xc93700")]
    write(store, {"auth": auth, "process": process})
    findings, _ = detect(store, ["lateral"])
    execs = [f for f in findings if f.rule_id.startswith("lateral.remote_exec")]
    assert len(execs) == 1
    f = execs[0]
    assert f.rule_id == "lateral.remote_exec_session" and "T1047" in f.techniques
    assert f.entities["src_ip"] == ("172.18.39.5",) and f.entities["host"] == ("workstation6",)
    assert {e.table for e in f.evidence} == {"process", "auth"}
    assert f.stage == "lateral_movement"


def test_winrm_child_without_logon_link_is_lower_confidence(store: Store) -> None:
    process = [proc(T0, "ws1", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                    "C:\\Windows\\System32\\wsmprovhost.exe", "0x1234")]
    write(store, {"process": process})
    findings, _ = detect(store, ["lateral"])
    assert [f.rule_id for f in findings] == ["lateral.remote_exec_parent"]
    assert "T1021.006" in findings[0].techniques and findings[0].severity.value == "medium"


def test_psexec_service_install_after_network_logon(store: Store) -> None:
    auth = [logon(T0, "srv2", "admin", "10.0.0.5", "0x777", package="NTLM", process="NtLmSsp", key_length="128")]
    persistence = [{"time": T0 + 3, "host": "srv2", "event_code": 7045, "action": "service_installed",
                    "name": "PSEXESVC", "image_path": "%SystemRoot%\\PSEXESVC.exe", "account": "LocalSystem"},
                   {"time": T0 + 4000, "host": "srv2", "event_code": 7045, "action": "service_installed",
                    "name": "Google Update",
                    "image_path": "\"C:\\Program Files\\Google\\Update\\GoogleUpdate.exe\" /svc",
                    "account": "LocalSystem"}]
    pipe = [{"time": T0 + 4, "host": "srv2", "event_code": 17, "action": "created",
             "pipe_name": "\\PSEXESVC-WS1-1234-stdin", "process_path": "C:\\Windows\\PSEXESVC.exe"}]
    write(store, {"auth": auth, "persistence": persistence, "pipe": pipe})
    findings, _ = detect(store, ["lateral"])
    rules = sorted(f.rule_id for f in findings)
    assert rules == ["lateral.psexec_artifact", "lateral.service_install"]
    svc = next(f for f in findings if f.rule_id == "lateral.service_install")
    assert svc.entities["service"] == ("PSEXESVC",) and svc.entities["src_ip"] == ("10.0.0.5",)
    assert "T1569.002" in svc.techniques
    # the pipe event names no source: the network logon just before it does (its actor, for routine)
    pipe_f = next(f for f in findings if f.rule_id == "lateral.psexec_artifact")
    assert pipe_f.extra["remote"] == {"method": "lateral.psexec_artifact:pipe", "src": "10.0.0.5",
                                      "account": "admin", "dst": "srv2"}


def test_pass_the_hash_signals(store: Store) -> None:
    auth = [logon(T0, "ws1", "pgustavo", "::1", "0x1", ltype=9, package="Negotiate", process="seclogo"),
            logon(T0 + 10, "srv1", "admin", "10.0.0.9", "0x2", package="NTLM", process="NtLmSsp", key_length="0"),
            # NTLM with a session key, and anonymous NTLM: not pass-the-hash
            logon(T0 + 20, "srv1", "admin", "10.0.0.8", "0x3", package="NTLM", process="NtLmSsp", key_length="128"),
            logon(T0 + 30, "srv1", "ANONYMOUS LOGON", "10.0.0.7", "0x4", package="NTLM", process="NtLmSsp")]
    write(store, {"auth": auth})
    findings, _ = detect(store, ["lateral"])
    got = sorted((f.rule_id, f.entities.get("src_ip", ("",))[0]) for f in findings
                 if f.rule_id.startswith("lateral.pth"))
    assert got == [("lateral.pth_ntlm", "10.0.0.9"), ("lateral.pth_seclogo", "::1")]


def test_first_seen_edges_after_learning_period(store: Store) -> None:
    day = 86400.0
    # two weeks of routine: ws1..ws5 -> fileserver over SMB, users logging on to their own workstations
    net, auth = [], []
    for d in range(14):
        for w in range(1, 6):
            net.append({"time": T0 + d * day + w * 60, "src_ip": f"10.0.0.{w}", "dst_ip": "10.0.0.100",
                        "dst_port": 445, "conn_state": "SF"})
            auth.append(logon(T0 + d * day + w * 60, f"ws{w}", f"user{w}", f"10.0.0.{w}", f"0x{d}{w}", ltype=10))
    write(store, {"network": net, "auth": auth})
    first, rep = detect(store, ["lateral"])
    assert [f for f in first if f.rule_id == "lateral.new_edge"] == []  # all learned
    # every edge first appeared inside the learning period: the run says first-seen rules were not applied
    assert [n for n in rep.notes if n.startswith("lateral: baseline learning for") and "lateral.new_edge" in n]
    t = T0 + 15 * day
    later_net = [{"time": t, "src_ip": "10.0.0.3", "dst_ip": f"10.0.0.{n}", "dst_port": 445, "conn_state": "SF"}
                 for n in (1, 2, 4)] + [{"time": t + 5, "src_ip": "10.0.0.1", "dst_ip": "10.0.0.100", "dst_port": 445,
                                         "conn_state": "SF"}]
    later_auth = [logon(t + 30, "ws4", "user3", "10.0.0.3", "0xabc", ltype=3)]
    write(store, {"network": later_net, "auth": later_auth})
    second, rep = detect(store, ["lateral"])
    assert rep.notes == []  # learned: nothing to say
    edges = sorted(f.extra["edge"] for f in second if f.rule_id == "lateral.new_edge")
    assert edges == ["flow|smb|10.0.0.3|10.0.0.1", "flow|smb|10.0.0.3|10.0.0.2", "flow|smb|10.0.0.3|10.0.0.4",
                     "logon|10.0.0.3|ws4", "user|user3|ws4"]
    fan = [f for f in second if f.extra.get("edge", "").startswith("flow|smb|10.0.0.3")]
    assert all(f.severity.value == "medium" for f in fan)  # fan-out of 3 new edges in a day


def test_remote_service_control_and_psexec_console_pipes(store: Store) -> None:
    def share(t: float, target: str, src: str = "10.0.2.16") -> dict:
        return {"time": t, "host": "iewin7", "event_code": 5145, "action": "share_access", "share_name": "\\\\*\\IPC$",
                "relative_target": target, "src_ip": src, "user": "admin"}

    write(store, {"file": [share(T0, "svcctl"), share(T0 + 1, "svcctl"), share(T0 + 2, "blabla-WS1-37048-stdin"),
                           share(T0 + 3, "srvsvc"), share(T0 + 4, "svcctl", src="::1")]})
    findings, _ = detect(store, ["lateral"])
    got = sorted((f.rule_id, f.entities["src_ip"][0]) for f in findings)
    assert got == [("lateral.psexec_artifact", "10.0.2.16"), ("lateral.remote_pipe", "10.0.2.16")]
    svc = next(f for f in findings if f.rule_id == "lateral.remote_pipe")
    assert "T1569.002" in svc.techniques and len(svc.evidence) == 2


def test_learning_note_only_while_new_events_fall_in_the_learning_period() -> None:
    from datetime import UTC, datetime, timedelta

    from aptwatch.detect.analytics.common import Learning

    start = datetime(2024, 1, 1, tzinfo=UTC)
    learn = Learning(start, 7)
    assert learn.note([], "r") is None
    assert learn.note([start + timedelta(days=8)], "r") is None  # learned: silent
    assert Learning(None, 7).note([start], "r") is None  # nothing folded yet
    short = learn.note([start, start + timedelta(minutes=10)], "lateral.new_edge")
    assert short is not None and "for 7 days from" in short and "(0.01 days of history so far)" in short
    assert "not applied to the new events;" in short
    partial = learn.note([start + timedelta(days=6), start + timedelta(days=9)], "r")
    assert partial is not None and "the new events before 2024-01-08 00:00Z" in partial
    assert Learning(start, 0).note([start], "r") is None  # learn_days=0: every key judged


def test_winrm_host_process_in_a_network_logon_is_a_remote_session(store: Store) -> None:
    """Covenant's PowerShell-remoting command runs inside wsmprovhost (no child): the host process in the
    attacker's network logon is the trace. The same process in a loopback logon is not."""
    host = "C:\\Windows\\System32\\wsmprovhost.exe"
    svchost = "C:\\Windows\\System32\\svchost.exe"
    auth = [logon(T0, "workstation6", "pgustavo", "172.18.39.5", "0x1121f34"),
            logon(T0, "workstation6", "wardog", "::1", "0x99")]
    write(store, {"auth": auth, "process": [proc(T0 + 1, "workstation6", host, svchost, "0x1121f34"),
                                            proc(T0 + 2, "workstation6", host, svchost, "0x99")]})
    findings, _ = detect(store, ["lateral"])
    sessions = [f for f in findings if f.rule_id == "lateral.remote_session"]
    assert len(sessions) == 1 and sessions[0].entities["src_ip"] == ("172.18.39.5",)
    assert sessions[0].severity.value == "low" and sessions[0].techniques == ("T1021.006",)
    assert [f.rule_id for f in findings if f.rule_id.startswith("lateral.remote_exec")] == []


def test_per_user_service_instances_after_a_logon_are_not_remote_installs(store: Store) -> None:
    """Windows 10 creates '<template>_<LUID>' services from System32 at each logon (seen after the RDP /
    network logon of OTRF recordings); a plain service installed after a network logon still counts."""
    auth = [logon(T0, "workstation5", "pgustavo", "172.18.39.5", "0x42")]

    def svc(t: float, name: str, image: str) -> dict:
        return {"time": t, "host": "workstation5", "event_code": 7045, "action": "service_installed", "name": name,
                "image_path": image, "account": "LocalSystem"}

    persistence = [svc(T0 + 5, "CDPUserSvc_b0b5d", "C:\\windows\\system32\\svchost.exe -k UnistackSvcGroup"),
                   svc(T0 + 6, "CredentialEnrollmentManagerUserSvc_b0b5d",
                       "C:\\windows\\system32\\CredentialEnrollmentManager.exe"),
                   svc(T0 + 9, "updsvc_1a2b", "C:\\ProgramData\\updsvc.exe"),
                   svc(T0 + 12, "WinSvc_cafe1", "\\\\10.0.0.9\\ADMIN$\\x.exe")]
    write(store, {"auth": auth, "persistence": persistence})
    findings, _ = detect(store, ["lateral"])
    got = sorted(f.entities["service"][0] for f in findings if f.rule_id == "lateral.service_install")
    assert got == ["WinSvc_cafe1", "updsvc_1a2b"]
