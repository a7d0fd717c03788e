"""The ATT&CK / severity reading of third-party alerts: each table, direction, and the order of trust."""

from __future__ import annotations

from typing import Any

import pytest

from aptwatch.detect.alert_mapping import (
    CLASSIFICATIONS,
    ET_CATEGORIES,
    ET_UNMAPPED,
    TEXT_RULES,
    WAZUH_GROUPS,
    ZEEK_NOTICES,
    explicit_ids,
    infer_attack,
    metadata_ids,
    sensor_severity,
    split_ids,
    strip_sensor_prefix,
)
from aptwatch.model.finding import Severity
from aptwatch.model.killchain import TACTICS


def attack(**kw: Any) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    args: dict[str, Any] = {"sensor": None, "signature_id": None, "signature": None, "categories": [],
                            "rule_groups": [], "mitre_tactics": [], "mitre_techniques": [], "direction": "unknown"}
    args.update(kw)
    a = infer_attack(**args)
    return a.tactics, a.techniques, a.basis


@pytest.mark.parametrize(("sensor", "value", "sig_sev", "expected"), [
    ("wazuh", "0", None, Severity.INFORMATIONAL), ("wazuh", "3", None, Severity.INFORMATIONAL),
    ("wazuh", "5", None, Severity.LOW), ("wazuh", "7", None, Severity.MEDIUM), ("wazuh", "10", None, Severity.MEDIUM),
    ("wazuh", "12", None, Severity.HIGH), ("wazuh", "15", None, Severity.CRITICAL),
    ("suricata", "1", None, Severity.HIGH), ("suricata", "2", None, Severity.MEDIUM),
    ("suricata", "3", None, Severity.LOW), ("suricata", "4", None, Severity.INFORMATIONAL),
    ("suricata", "3", "Major", Severity.HIGH),  # per-rule signature_severity wins over the classtype priority
    ("suricata", None, "Critical", Severity.CRITICAL),
    ("defender", "Medium", None, Severity.MEDIUM), ("defender", "Severe", None, Severity.CRITICAL),
    ("defender", "Moderate", None, Severity.MEDIUM), ("defender", "Informational", None, Severity.INFORMATIONAL),
    ("zeek", None, None, None), ("aminer", "", None, None), ("mystery", "7", None, None),
])
def test_sensor_severity_scales(sensor: str, value: str | None, sig_sev: str | None,
                                expected: Severity | None) -> None:
    assert sensor_severity(sensor, value, sig_sev) == expected


def test_explicit_ids_win_and_are_validated() -> None:
    assert explicit_ids(["Credential Access", "TA0008", "bogus"], ["t1110.001", "T99", "T1021"]) == \
        (("TA0006", "TA0008"), ("T1110.001", "T1021"))
    # explicit ids beat every inferred reading, even a contradicting ET category
    assert attack(signature="ET SCAN something", mitre_tactics=["TA0011"], mitre_techniques=["T1071"]) == \
        (("TA0011",), ("T1071",), "alert")
    tac, tech, sev = metadata_ids({"mitre_tactic_id": ["TA0011"], "mitre_technique_id": ["T1071"],
                                   "signature_severity": ["Major"], "created_at": ["2020_01_01"]})
    assert (tac, tech, sev) == (["TA0011"], ["T1071"], "Major")
    assert metadata_ids({"mitre_tactic_id": "TA0001"}) == (["TA0001"], [], None)
    assert split_ids(['["TA0001", "TA0002"]', "TA0002;TA0003", None]) == ["TA0001", "TA0002", "TA0003"]


def test_direction_decides_scans_and_exploits() -> None:
    assert attack(signature="ET SCAN Nmap Scripting Engine", direction="internal")[:2] == (("TA0007",), ("T1046",))
    assert attack(signature="ET SCAN Nmap Scripting Engine", direction="inbound")[:2] == (("TA0043",), ("T1595",))
    assert attack(signature="ET SCAN Nmap Scripting Engine")[:2] == (("TA0043",), ("T1595",))
    assert attack(signature="ET EXPLOIT Apache log4j RCE", direction="internal")[:2] == (("TA0008",), ("T1210",))
    assert attack(signature="ET EXPLOIT Apache log4j RCE", direction="inbound")[:2] == (("TA0001",), ("T1190",))


def test_structured_sources_in_order() -> None:
    assert attack(sensor="wazuh", rule_groups=["syslog", "sshd", "authentication_failures"]) == \
        (("TA0006",), ("T1110",), "wazuh_group:authentication_failures")
    assert attack(sensor="zeek", signature_id="Scan::Port_Scan", direction="internal")[:2] == \
        (("TA0007",), ("T1046",))
    assert attack(sensor="zeek", signature="SSH::Password_Guessing")[0] == ("TA0006",)
    assert attack(sensor="zeek", signature="ATTACK::Lateral_Movement_Extracted_File")[0] == ("TA0008",)
    assert attack(sensor="zeek", signature="SSL::Invalid_Server_Cert") == ((), (), "none")
    assert attack(sensor="suricata", signature="ET TROJAN Win32/Emotet CnC Activity") == \
        (("TA0011",), (), "et_category:TROJAN")
    assert attack(sensor="suricata", signature="LOCAL curl User-Agent inbound",
                  categories=["Attempted Information Leak"], direction="inbound")[:2] == (("TA0043",), ("T1595",))
    # policy / info / reputation categories stay unmapped even when the classtype suggests a reading
    assert attack(sensor="suricata", signature="ET POLICY IP Check Domain (whatismyip in HTTP Host)",
                  categories=["Attempted Information Leak"])[:2] == ((), ())
    assert attack(sensor="suricata", signature="SURICATA HTTP unable to match response to request",
                  categories=["Generic Protocol Command Decode"])[:2] == ((), ())
    assert attack(sensor="suricata", signature="Custom rule 42", categories=["A Network Trojan was detected"])[0] \
        == ("TA0011",)
    assert attack(sensor="defender", signature="Suspicious LSASS access", categories=["CredentialAccess"])[0] == \
        ("TA0006",)
    assert attack(sensor="defender", signature="x", categories=["Ransomware"])[:2] == (("TA0040",), ("T1486",))
    # the ET category is read after a Wazuh/AIT-ADS prefix
    assert attack(sensor="suricata", signature="Suricata: Alert - ET SCAN Possible Nmap User-Agent Observed")[2] \
        == "et_category:SCAN"


@pytest.mark.parametrize(("text", "tactic"), [
    ("Wazuh: Dovecot brute force attack (multiple auth failures).", "TA0006"),
    ("PAM: Multiple failed logins in a small period of time.", "TA0006"),
    ("sshd: insecure connection attempt (scan).", "TA0043"),
    ("Wazuh: Multiple web server 400 error codes from same source ip.", "TA0043"),
    ("Common web attack.", "TA0001"),
    ("Shellshock attack attempt", "TA0001"),
    ("Successful sudo to ROOT executed.", "TA0004"),
    ("Mimikatz credential theft tool detected", "TA0006"),
    ("Possible webshell upload detected", "TA0003"),
    ("Known ransomware extension created", "TA0040"),
    ("DNS tunnel via iodine", "TA0011"),
])
def test_text_rules_positive(text: str, tactic: str) -> None:
    tactics, _techniques, basis = attack(signature=text)
    assert tactic in tactics and basis.startswith("text:"), (text, tactics, basis)


@pytest.mark.parametrize("text", [
    "Wazuh: Dovecot Authentication Success.",
    "Wazuh: ClamAV database update",
    "Suricata: Alert - SURICATA TLS invalid record/traffic",
    "Suricata: Alert - ET INFO Observed DNS Query to .biz TLD",
    "Suricata: Alert - ET POLICY GNU/Linux APT User-Agent Outbound likely related to package management",
    "AMiner: High entropy in DNS domain.",  # an anomaly statistic, not a behaviour
    "AMiner: New service_stop parameter combination in Audit logs.",
    "Wazuh: PAM: User login failed.",
    "ClamAV scan completed",
    "Tornado warning feed updated",
])
def test_text_rules_negative(text: str) -> None:
    tactics, techniques, basis = attack(signature=text)
    assert (tactics, techniques) == ((), ()) and (basis == "none" or basis.startswith("unmapped:")), basis


def test_tables_hold_only_valid_attack_ids() -> None:
    rules = [*WAZUH_GROUPS.values(), *ET_CATEGORIES.values(), *CLASSIFICATIONS.values(), *ZEEK_NOTICES.values(),
             *(t.rule for t in TEXT_RULES)]
    for r in rules:
        assert all(t in TACTICS for t in r.tactics), r
        assert all(t.startswith("T") and t[1:5].isdigit() for t in r.techniques), r
        assert r.kind is not None or r.tactics or r.severity is not None, r


def test_strip_sensor_prefix() -> None:
    assert strip_sensor_prefix("Suricata: Alert - ET SCAN x") == "ET SCAN x"
    assert strip_sensor_prefix("Wazuh: sshd: authentication success.") == "sshd: authentication success."
    assert strip_sensor_prefix("ET SCAN x") == "ET SCAN x"


def test_docs_list_every_mapping() -> None:
    """docs/detections.md prints the tables; a key added here and not there fails."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "detections.md").read_text()
    for key in [*WAZUH_GROUPS, *ET_CATEGORIES, *ZEEK_NOTICES]:
        assert f"`{key}`" in doc, key
    for key in CLASSIFICATIONS:
        assert f"| {key} |" in doc, key
    for tr in TEXT_RULES:
        assert f"| {tr.name} |" in doc, tr.name
    for cat in ET_UNMAPPED:
        assert f"`{cat}`" in doc, cat
