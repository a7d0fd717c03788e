"""Privilege and credential-access anomalies: first special privileges, group additions, LSASS, Kerberoasting."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptwatch.store import Store
from tests.analytics.lake import detect, write

T0 = 1709251200.0
DAY = 86400.0


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store.open(store_dir, create=True)


def priv(t: float, host: str, user: str, domain: str = "CORP", sid: str = "S-1-5-21-1-2-3-1001") -> dict:
    return {"time": t, "host": host, "event_code": 4672, "action": "special_privileges", "subject_user": user,
            "subject_domain": domain, "subject_sid": sid, "privileges": "SeDebugPrivilege SeBackupPrivilege"}


def lsass(t: float, host: str, image: str, mask: str) -> dict:
    return {"time": t, "host": host, "event_code": 10, "action": "access", "source_path": image,
            "target_path": "C:\\Windows\\system32\\lsass.exe", "granted_access": mask}


def test_special_privileges_first_time_after_learning(store: Store) -> None:
    auth = [priv(T0 + d * DAY, "srv1", "admin") for d in range(10)]
    auth += [priv(T0 + d * DAY, "srv1", "SYSTEM", "NT AUTHORITY", "S-1-5-18") for d in range(10)]
    write(store, {"auth": auth})
    first, _ = detect(store, ["privilege"])
    assert first == []
    write(store, {"auth": [priv(T0 + 11 * DAY, "srv1", "admin"), priv(T0 + 11 * DAY, "ws7", "helpdesk2"),
                           priv(T0 + 11 * DAY, "ws7", "WS7$", "CORP", "S-1-5-21-9")]})
    second, _ = detect(store, ["privilege"])
    assert [(f.rule_id, f.entities["user"]) for f in second] == [
        ("privilege.new_special_privileges", ("corp\\helpdesk2",))]


def test_group_addition_to_privileged_group_even_during_learning(store: Store) -> None:
    account = [{"time": T0, "host": "dc1", "event_code": 4728, "action": "member_added", "group_name": "Domain Admins",
                "target_user": "Domain Admins", "member_name": "CN=eve,OU=Users,DC=corp,DC=local",
                "subject_user": "admin"},
               {"time": T0 + 5, "host": "dc1", "event_code": 4728, "action": "member_added",
                "group_name": "Marketing", "target_user": "Marketing", "member_name": "CN=bob,DC=corp,DC=local"}]
    write(store, {"account": account})
    findings, _ = detect(store, ["privilege"])
    assert [(f.rule_id, f.severity.value) for f in findings] == [("privilege.group_add", "high")]
    assert "domain admins" in findings[0].title
    assert findings[0].entities["user"] == ("cn=eve,ou=users,dc=corp,dc=local",)


def test_lsass_read_by_unusual_process_not_by_defender(store: Store) -> None:
    pa = [lsass(T0, "ws1", "C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe", "0x1010"),
          lsass(T0, "ws1", "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\MsMpEng.exe", "0x1010"),
          lsass(T0, "ws1", "C:\\Windows\\system32\\svchost.exe", "0x1000"),
          lsass(T0, "ws1", "C:\\Tools\\backup.exe", "0x1000")]  # query-limited-information only
    write(store, {"process_access": pa})
    findings, _ = detect(store, ["privilege"])
    assert [(f.rule_id, f.entities["process"]) for f in findings] == [
        ("privilege.lsass_access", ("C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe",))]
    assert "T1003.001" in findings[0].techniques and findings[0].stage == "escalate_privileges"


def test_kerberoasting_burst(store: Store) -> None:
    auth = [{"time": T0 + i, "host": "dc1", "event_code": 4769, "action": "service_ticket", "target_user": "eve@CORP",
             "service": f"svc_sql{i}", "ticket_encryption": "0x17", "src_ip": "10.0.0.66", "status": "0x0"}
            for i in range(8)]
    auth += [{"time": T0 + i, "host": "dc1", "event_code": 4769, "action": "service_ticket", "target_user": "bob@CORP",
              "service": f"host{i}$", "ticket_encryption": "0x12", "src_ip": "10.0.0.5"} for i in range(8)]
    write(store, {"auth": auth})
    findings, _ = detect(store, ["privilege"])
    assert [(f.rule_id, f.entities["user"]) for f in findings] == [("privilege.kerberoast", ("eve",))]
