"""Suricata EVE JSON: each event type to its table, alerts with ATT&CK metadata, arrays, bad input, fuzz."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources import detect_format
from aptwatch.sources.suricata_eve import SuricataEve
from tests.conftest import shared_path
from tests.sources.netutil import count, head_of, rows, run

BASE = {"flow_id": 1374195536821504, "src_ip": "10.1.1.5", "src_port": 51698, "dest_ip": "198.51.100.7",
        "dest_port": 443, "proto": "TCP", "host": "sensor-1", "community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg="}
EVENTS: list[dict[str, object]] = [
    {**BASE, "timestamp": "2024-03-01T10:00:00.000001+0100", "event_type": "alert",
     "alert": {"action": "allowed", "gid": 1, "signature_id": 2027865, "rev": 3,
               "signature": "ET MALWARE Cobalt Strike Beacon Observed", "category": "A Network Trojan was detected",
               "severity": 1, "metadata": {"mitre_tactic_id": ["TA0011"], "mitre_technique_id": ["T1071", "T1573"],
                                           "tag": ["c2", "CobaltStrike"]}}},
    {**BASE, "timestamp": "2024-03-01T10:05:00.000000+0100", "event_type": "flow", "app_proto": "tls",
     "flow": {"pkts_toserver": 12, "pkts_toclient": 10, "bytes_toserver": 2345, "bytes_toclient": 6789,
              "start": "2024-03-01T10:00:00.000000+0100", "end": "2024-03-01T10:00:30.500000+0100",
              "state": "closed", "reason": "timeout"}},
    {**BASE, "timestamp": "2024-03-01T10:00:00.1+0100", "event_type": "tls",
     "tls": {"subject": "CN=evil.example", "issuerdn": "CN=evil.example", "sni": "evil.example", "version": "TLS 1.2",
             "fingerprint": "2D:D1:9F:80:99:86:FC:AC:5F:2A:2A:FD:A3:F3:7E:96:7C:DD:24:37",
             "ja3": {"hash": "72a589da586844d7f0818ce684948eea"},
             "ja3s": {"hash": "e35df3e00ca4ef31d42b34bebaa2f86e"}}},
    {**BASE, "dest_port": 53, "proto": "UDP", "timestamp": "2024-03-01T10:00:01+0100", "event_type": "dns",
     "dns": {"type": "answer", "id": 1, "rrname": "evil.example", "rrtype": "A", "rcode": "NOERROR", "version": 2,
             "answers": [{"rrname": "evil.example", "rrtype": "A", "rdata": "198.51.100.7"}],
             "grouped": {"A": ["198.51.100.7"]}}},
    {**BASE, "dest_port": 53, "proto": "UDP", "timestamp": "2024-03-01T10:00:02+0100", "event_type": "dns",
     "dns": {"type": "answer", "id": 2, "rrname": "other.example", "rrtype": "CNAME", "rdata": "cdn.example",
             "rcode": "NOERROR"}},
    {**BASE, "dest_port": 53, "proto": "UDP", "timestamp": "2024-03-01T10:00:03+0100", "event_type": "dns",
     "dns": {"version": 3, "type": "request", "queries": [{"rrname": "v3.example", "rrtype": "TXT"}]}},
    {**BASE, "dest_port": 80, "timestamp": "2024-03-01T10:00:04+0100", "event_type": "http",
     "http": {"hostname": "update.example", "url": "/a.exe", "http_user_agent": "curl/8.0", "http_method": "GET",
              "status": 200, "length": 4096, "http_content_type": "application/octet-stream"}},
    {**BASE, "dest_port": 80, "timestamp": "2024-03-01T10:00:05+0100", "event_type": "fileinfo",
     "fileinfo": {"filename": "/dl/a.exe", "size": 4096, "md5": "0CC175B9C0F1B6A831C399E269772661", "stored": False}},
    {**BASE, "dest_port": 445, "timestamp": "2024-03-01T10:00:06+0100", "event_type": "smb",
     "smb": {"command": "SMB2_COMMAND_SESSION_SETUP", "status": "STATUS_LOGON_FAILURE",
             "ntlmssp": {"domain": "CORP", "user": "alice", "host": "WS01"}}},
    {**BASE, "dest_port": 445, "timestamp": "2024-03-01T10:00:07+0100", "event_type": "smb",
     "smb": {"command": "SMB2_COMMAND_TREE_CONNECT", "share": "\\\\FS01\\ADMIN$", "status": "STATUS_SUCCESS"}},
    {**BASE, "dest_port": 88, "timestamp": "2024-03-01T10:00:08+0100", "event_type": "krb5",
     "krb5": {"msg_type": "KRB_TGS_REQ", "cname": "alice", "realm": "CORP.EXAMPLE", "sname": "cifs/fs01",
              "encryption": "rc4-hmac", "failed": False}},
    {"timestamp": "2024-03-01T10:00:09+0100", "event_type": "stats", "stats": {"uptime": 10}},
]


def write(tmp_path: Path, lines: list[bytes], name: str = "eve.json") -> Path:
    p = tmp_path / name
    p.write_bytes(b"\n".join(lines) + b"\n")
    return p


def test_sniff() -> None:
    src = SuricataEve()
    assert src.sniff(orjson.dumps(EVENTS[0]) + b"\n", "eve.json")
    pretty = orjson.dumps(EVENTS[:2], option=orjson.OPT_INDENT_2)
    assert src.sniff(pretty, "alerts.json")
    assert not src.sniff(b'{"ts": 1.0, "uid": "C1", "id.orig_h": "1.2.3.4"}\n', "conn.log")
    assert not src.sniff(b'[{"a": 1}]', "x.json")
    assert not src.sniff(b'{"timestamp": "x", "message": "y"}\n', "app.json")
    found = detect_format(orjson.dumps(EVENTS[0]) + b"\n", "eve.json")
    assert found is not None and found.name == "suricata_eve"


def test_golden_every_event_type(tmp_path: Path) -> None:
    tables, warnings = run(SuricataEve(), write(tmp_path, [orjson.dumps(e) for e in EVENTS]))
    assert warnings == []
    assert {t: v.num_rows for t, v in tables.items()} == {"ids_alert": 1, "network": 1, "tls": 1, "dns": 3, "http": 1,
                                                          "file": 2, "auth": 2, "generic": 1}
    alert = rows(tables, "ids_alert")[0]
    assert alert["time"] == datetime(2024, 3, 1, 9, 0, 0, 1, tzinfo=UTC)
    assert (alert["signature"], alert["signature_id"], alert["category"], alert["severity"], alert["alert_action"],
            alert["sensor"]) == ("ET MALWARE Cobalt Strike Beacon Observed", "2027865",
                                 "A Network Trojan was detected", "1", "allowed", "suricata")
    assert (alert["mitre_tactics"], alert["mitre_techniques"], alert["rule_groups"]) == ("TA0011", "T1071,T1573",
                                                                                         "c2,CobaltStrike")
    assert (alert["flow_id"], alert["community_id"], alert["protocol"], alert["provider"], alert["channel"],
            alert["host"]) == ("1374195536821504", BASE["community_id"], "tcp", "sensor-1", "alert", "10.1.1.5")
    assert orjson.loads(alert["raw"]) == EVENTS[0]
    flow = rows(tables, "network")[0]
    assert flow["time"] == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)  # flow start, not the event time
    assert (flow["duration"], flow["bytes_out"], flow["bytes_in"], flow["packets_out"], flow["packets_in"],
            flow["conn_state"], flow["app_protocol"], flow["flow_id"]) == (30.5, 2345, 6789, 12, 10, "closed", "tls",
                                                                         alert["flow_id"])
    tls = rows(tables, "tls")[0]
    assert (tls["server_name"], tls["version"], tls["ja3"], tls["ja3s"], tls["cert_sha1"], tls["issuer"]) == (
        "evil.example", "TLS 1.2", "72a589da586844d7f0818ce684948eea", "e35df3e00ca4ef31d42b34bebaa2f86e",
        "2dd19f809986fcac5f2a2afda3f37e967cdd2437", "CN=evil.example")
    dns = rows(tables, "dns")
    assert [(d["query"], d["query_type"], d["answers"]) for d in dns] == [
        ("evil.example", "A", "198.51.100.7"), ("other.example", "CNAME", "cdn.example"), ("v3.example", "TXT", None)]
    http = rows(tables, "http")[0]
    assert (http["http_host"], http["uri"], http["method"], http["user_agent"], http["status_code"],
            http["response_bytes"]) == ("update.example", "/a.exe", "GET", "curl/8.0", 200, 4096)
    files = {f["channel"]: f for f in rows(tables, "file")}
    assert (files["fileinfo"]["path"], files["fileinfo"]["file_name"], files["fileinfo"]["md5"],
            files["fileinfo"]["action"]) == ("/dl/a.exe", "a.exe", "0cc175b9c0f1b6a831c399e269772661", "transfer")
    assert (files["smb"]["action"], files["smb"]["share_name"]) == ("share_connect", "\\\\FS01\\ADMIN$")
    auth = {a["channel"]: a for a in rows(tables, "auth")}
    assert (auth["smb"]["target_user"], auth["smb"]["target_domain"], auth["smb"]["workstation"],
            auth["smb"]["outcome"], auth["smb"]["protocol"]) == ("alice", "CORP", "WS01", "failure", "ntlm")
    assert (auth["krb5"]["action"], auth["krb5"]["service"], auth["krb5"]["ticket_encryption"],
            auth["krb5"]["outcome"]) == ("service_ticket", "cifs/fs01", "rc4-hmac", "success")
    assert rows(tables, "generic")[0]["channel"] == "stats" and rows(tables, "generic")[0]["host"] is None


def test_json_array_export_and_truncated_array(tmp_path: Path) -> None:
    p = tmp_path / "alerts-only.json"
    p.write_bytes(orjson.dumps(EVENTS[:4], option=orjson.OPT_INDENT_2))
    tables, warnings = run(SuricataEve(), p)
    assert warnings == [] and count(tables) == 4
    assert rows(tables, "ids_alert")[0]["record"] == 1 and rows(tables, "dns")[0]["record"] == 4
    cut = orjson.dumps(EVENTS[:4], option=orjson.OPT_INDENT_2)
    p.write_bytes(cut[: cut.index(b'"event_type": "dns"') + 10])  # the last element cut mid-way
    tables, warnings = run(SuricataEve(), p)
    assert count(tables) == 3
    assert [w.reason for w in warnings] == ["bad_json"] and warnings[0].position == 4


def test_broken_lines_are_warnings(tmp_path: Path) -> None:
    lines = [orjson.dumps(EVENTS[0]), orjson.dumps(EVENTS[1])[:50], b"", b"\xff\xfe garbage",
             orjson.dumps({**EVENTS[6], "timestamp": "not a time"}), b"[]"]
    tables, warnings = run(SuricataEve(), write(tmp_path, lines))
    assert count(tables) == 2
    assert Counter(w.reason for w in warnings) == Counter({"bad_json": 2, "bad_encoding": 1, "bad_time": 1,
                                                           "not_object": 1})


@pytest.mark.shared
def test_shared_samples() -> None:
    test6 = shared_path("slips-dataset", "test6-malicious.suricata.json.gz")
    assert detect_format(head_of(test6), "test6-malicious.suricata.json").name == "suricata_eve"  # type: ignore[union-attr]
    tables, warnings = run(SuricataEve(), test6)
    assert warnings == []
    assert {t: v.num_rows for t, v in tables.items()} == {"network": 3512, "ids_alert": 745, "dns": 680, "http": 56,
                                                          "file": 3, "generic": 3, "tls": 1}
    alerts = rows(tables, "ids_alert")
    assert all(a["signature"] and a["signature_id"] and a["src_ip"] and a["time"] for a in alerts)
    assert Counter(a["host"] for a in alerts).most_common(1)[0][0] == "192.168.1.129"  # the honeypot, not attackers
    for name, n in (("wrccdc-2018", 207), ("wrccdc-2017", 161), ("first-org-conf-2015", 136), ("honeypot-2018", 44)):
        sample = shared_path("suricata-alert-samples", "samples", name, "alerts-only.json")
        tables, warnings = run(SuricataEve(), sample)
        assert warnings == [] and {t: v.num_rows for t, v in tables.items()} == {"ids_alert": n}, name


_event = st.fixed_dictionaries({"timestamp": st.one_of(st.just("2024-03-01T10:00:00+0000"), st.text(max_size=5)),
                                "event_type": st.sampled_from(["alert", "flow", "dns", "smb", "tls", "x", "rdp"])},
                               optional={"src_ip": st.text(max_size=8),
                                         "dest_port": st.integers(-(2**63), 2**63 - 1) | st.text(max_size=3),
                                         "alert": st.dictionaries(st.sampled_from(["signature", "metadata"]),
                                                                  st.text(max_size=4) | st.lists(st.text(max_size=3))),
                                         "dns": st.dictionaries(st.sampled_from(["rrname", "answers", "grouped"]),
                                                                st.text(max_size=4) | st.none())})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_event, min_size=1, max_size=12), st.lists(st.binary(max_size=30), max_size=4))
def test_fuzz_never_raises_and_accounts_for_every_line(tmp_path: Path, events: list[dict[str, object]],
                                                       junk: list[bytes]) -> None:
    lines = [orjson.dumps(e) for e in events] + [j.replace(b"\n", b" ") for j in junk]
    p = write(tmp_path, lines)
    tables, warnings = run(SuricataEve(), p)
    bad = {w.position for w in warnings if w.reason in ("bad_json", "not_object")}
    nonblank = sum(1 for ln in p.read_bytes().split(b"\n")[:-1] if ln.strip())
    assert count(tables) + len(bad) == nonblank
