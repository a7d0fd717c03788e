"""Wazuh alerts JSON: golden (alerts.json and an indexer export), truncated / garbled input, fuzz."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources import detect_format
from aptwatch.sources.base import ReadContext, SourceRef
from aptwatch.sources.wazuh import WazuhAlerts

DATA = Path(__file__).resolve().parents[1] / "data"
ALERTS = DATA / "wazuh_alerts.json"
EXPORT = DATA / "wazuh_indexer_export.json"


def read(path: Path) -> tuple[pa.Table, list[IngestWarning]]:
    ctx = ReadContext(SourceRef(str(path)), "0" * 64, path.stat().st_size)
    batches: list[pa.Table] = []
    warnings: list[IngestWarning] = []
    for item in WazuhAlerts().read(ctx):
        if isinstance(item, TableBatch):
            assert item.table == "ids_alert"
            batches.append(item.data)
        else:
            warnings.append(item)
    return (pa.concat_tables(batches, promote_options="default") if batches else pa.table({})), warnings


def test_sniff() -> None:
    src = WazuhAlerts()
    assert src.sniff(ALERTS.read_bytes()[:65536], "alerts.json")
    assert src.sniff(EXPORT.read_bytes(), "x.json")
    assert not src.sniff(b'{"@timestamp": "2024-03-01T10:00:00Z", "host": {"name": "ws01"}}\n', "x.json")
    assert not src.sniff(b'{"timestamp":"2024-03-01T10:00:00Z","event_type":"alert","alert":{"severity":2}}\n',
                         "eve.json")
    assert not src.sniff(b"time,name,ip,host,short\n", "alerts.csv")
    assert not src.sniff(b"", "alerts.json")
    fmt = detect_format(ALERTS.read_bytes()[:65536], "alerts.json")
    assert fmt is not None and fmt.name == "wazuh_alerts"


def test_golden_alerts_json() -> None:
    t, warnings = read(ALERTS)
    assert warnings == []
    rows = {r["record"]: r for r in t.to_pylist()}
    assert sorted(rows) == list(range(1, 9))
    brute = rows[1]
    assert brute["time"] == datetime(2024, 3, 1, 10, 0, 1, 123000, tzinfo=UTC)
    assert (brute["sensor"], brute["signature_id"], brute["severity"], brute["event_code"]) == \
        ("wazuh", "5712", "10", 5712)
    assert brute["signature"].startswith("sshd: brute force")
    assert (brute["host"], brute["host_ip"], brute["src_ip"], brute["src_port"]) == \
        ("web01", "10.10.1.20", "203.0.113.50", 51024)
    assert brute["rule_groups"] == "syslog,sshd,authentication_failures"
    assert (brute["mitre_tactics"], brute["mitre_techniques"]) == ("TA0006", "T1110")
    assert brute["message"].endswith("Invalid user admin from 203.0.113.50 port 51024")
    assert (brute["channel"], brute["provider"], brute["user"]) == ("/var/log/auth.log", "sshd", "admin")
    data = orjson.loads(brute["data"])
    assert data["rule.firedtimes"] == 1 and data["agent.id"] == "001" and data["rule.pci_dss"][0] == "11.4"
    assert "rule.description" not in data and "full_log" not in data  # columns are not repeated in data
    assert orjson.loads(brute["raw"])["id"] == "1709287201.1042"  # raw is the line as written

    sudo = rows[3]
    assert (sudo["user"], sudo["mitre_tactics"]) == ("www-data", "TA0004,TA0005")  # tactic names -> ids
    fim = rows[4]
    assert fim["file_path"] == "/etc/passwd" and orjson.loads(fim["data"])["syscheck.event"] == "modified"
    win = rows[5]
    assert (win["host"], win["src_ip"], win["src_port"], win["user"]) == ("ws07", "10.10.1.66", 41562,
                                                                         "administrator")
    assert orjson.loads(win["data"])["data.win.eventdata.workstationName"] == "KALI"
    # a Suricata alert Wazuh forwarded: the columns describe the Suricata alert
    eve = rows[6]
    assert (eve["sensor"], eve["signature_id"], eve["severity"], eve["event_code"]) == \
        ("suricata", "2009358", "1", 86601)
    assert eve["signature"].startswith("ET SCAN Nmap Scripting Engine")
    assert (eve["category"], eve["alert_action"], eve["protocol"]) == ("Web Application Attack", "allowed", "tcp")
    assert (eve["src_ip"], eve["dst_ip"], eve["dst_port"], eve["flow_id"]) == \
        ("10.10.1.66", "10.10.1.20", 80, "1425834772581812")
    assert orjson.loads(eve["data"])["rule.description"].startswith("Suricata: Alert - ET SCAN")
    assert rows[8]["mitre_tactics"] == "TA0005,TA0003,TA0004,TA0001"


def test_golden_indexer_export() -> None:
    t, warnings = read(EXPORT)
    assert warnings == []
    rows = t.to_pylist()
    assert [r["signature_id"] for r in rows] == ["5712", "31151"]
    assert rows[0]["time"] == datetime(2024, 3, 1, 10, 0, 1, 123000, tzinfo=UTC)
    assert rows[1]["mitre_tactics"] == "TA0043" and rows[1]["host"] == "web01"
    assert "_id" not in orjson.loads(rows[0]["data"])  # the wrapper stays in raw only
    assert orjson.loads(rows[0]["raw"])["_id"] == "aB0xYz"


def test_truncated_and_garbled(tmp_path: Path) -> None:
    content = ALERTS.read_bytes()
    p = tmp_path / "alerts.json"
    p.write_bytes(content[:-40])  # the last alert cut mid-way
    t, warnings = read(p)
    assert t.num_rows == 7
    assert [(w.reason, w.position) for w in warnings] == [("bad_json", 8)]
    lines = content.split(b"\n")
    lines[1] = b"\xff\xfe" + lines[1][2:]  # invalid UTF-8 where the JSON starts
    lines[2] = b'["not", "an", "object"]'
    lines[3] = b'{"no_rule": true, "timestamp": "yesterday"}'
    p.write_bytes(b"\n".join(lines))
    t, warnings = read(p)
    reasons = sorted(w.reason for w in warnings)
    assert reasons == ["bad_encoding", "bad_json", "bad_time", "not_alert", "not_object"]
    assert t.num_rows == 6  # the odd object is kept (with a warning), the two broken lines are not


records = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({"rule": st.fixed_dictionaries({"level": records}, optional={
    "id": records, "groups": records, "mitre": records, "description": records})},
    optional={"timestamp": records, "agent": records, "data": records, "full_log": records}),
    min_size=1, max_size=15), st.lists(st.binary(max_size=30), max_size=4))
def test_fuzz_never_raises_and_accounts_for_every_line(tmp_path: Path, alerts: list[dict[str, object]],
                                                       junk: list[bytes]) -> None:
    lines = [orjson.dumps(a) for a in alerts] + [j.replace(b"\n", b" ") for j in junk]
    p = tmp_path / "f.json"
    p.write_bytes(b"\n".join(lines) + b"\n")
    t, warnings = read(p)
    bad = {w.position for w in warnings if w.reason in ("bad_json", "not_object")}
    nonblank = sum(1 for ln in lines if ln.strip(b" \r\t") != b"")
    assert t.num_rows >= len(alerts)
    assert t.num_rows + len(bad) <= nonblank
