"""The import detector: Wazuh, Suricata EVE, Zeek notice and Defender alerts -> grouped, mapped findings;
stable ids, incremental runs, address context, AIT-ADS real data, and the ground-truth blanking proof."""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.imported import ImportedAlerts
from aptwatch.detect.runner import run_detectors
from aptwatch.ingest import ingest
from aptwatch.model.finding import Severity
from aptwatch.store import Store
from tests.tablerows import needs_source, put_rows, table_rows

DATA = Path(__file__).resolve().parents[1] / "data"
ALL = DetectSettings(min_severity=Severity.INFORMATIONAL)
T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def findings(store: Store, where: str = "true") -> list[dict[str, Any]]:
    rows = table_rows(store, f"SELECT * EXCLUDE (run_id, created_at) FROM findings WHERE {where} ORDER BY id")
    for r in rows:
        for k in ("entities", "evidence", "extra"):
            r[k] = orjson.loads(r[k])
    return rows


def by_rule(store: Store) -> dict[str, dict[str, Any]]:
    return {f["rule_id"]: f for f in findings(store)}


def detect(store: Store, settings: DetectSettings = ALL) -> dict[str, Any]:
    report = run_detectors(store, settings, detectors=[ImportedAlerts()])
    assert not report.failed, report.failed
    return report.stats.get("import", {})


def wazuh_line(rule_id: str, description: str, level: int, when: datetime, src: str = "203.0.113.50",
               **extra: Any) -> bytes:
    alert = {"timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
             "rule": {"level": level, "description": description, "id": rule_id, "groups": ["syslog", "sshd"]},
             "agent": {"id": "001", "name": "web01", "ip": "10.10.1.20"}, "manager": {"name": "wazuh-manager"},
             "full_log": f"Failed password for root from {src} port 4242 ssh2", "data": {"srcip": src, **extra},
             "location": "/var/log/auth.log"}
    return orjson.dumps(alert)


# ----------------------------------------------------------------------------------------------
# Wazuh alerts end to end
# ----------------------------------------------------------------------------------------------
def test_wazuh_alerts_become_mapped_findings(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    ingest(store, [DATA / "wazuh_alerts.json"])
    stats = detect(store)
    assert stats["groups"] == 8 and stats["alerts"] == 8
    f = by_rule(store)
    brute = f["wazuh:5712"]
    assert (brute["severity"], brute["tactics"], brute["techniques"], brute["stage"]) == \
        ("medium", ["TA0006"], ["T1110"], "escalate_privileges")
    assert brute["entities"] == {"host": "web01", "src_ip": "203.0.113.50", "user": "admin"}
    assert brute["extra"]["count"] == 1 and brute["extra"]["attack_basis"] == "alert"
    assert brute["extra"]["message"].endswith("Invalid user admin from 203.0.113.50 port 51024")
    (ev,) = brute["evidence"]
    assert (ev["source"], ev["record"], ev["table"], ev["time"]) == \
        (str(DATA / "wazuh_alerts.json"), 1, "ids_alert", "2024-03-01T10:00:01.123000Z")
    assert ev["event_id"].endswith("-1")
    assert brute["title"].startswith("sshd: brute force") and "from 203.0.113.50" in brute["description"]

    # the Suricata alert Wazuh forwarded: scan between internal hosts -> discovery, and the destination
    # address resolves to web01 through the agent address Wazuh reported (address context)
    scan = f["suricata:2009358"]
    assert (scan["severity"], scan["tactics"], scan["techniques"]) == ("high", ["TA0007"], ["T1046"])
    assert scan["extra"]["attack_basis"] == "et_category:SCAN" and scan["extra"]["direction"] == "internal"
    assert scan["entities"]["host"] == ["wazuh-manager", "web01"]
    assert scan["entities"]["domain"] == "web01.corp.example.com"
    assert scan["extra"]["resolved"] == {"10.10.1.20": "web01"}
    assert scan["extra"]["dst_ports"] == [80]

    assert f["wazuh:550"]["entities"]["file"] == "/etc/passwd"
    assert f["wazuh:550"]["stage"] == "maintain_presence"  # Impact only
    assert (f["wazuh:5402"]["severity"], f["wazuh:5402"]["tactics"]) == ("informational", ["TA0004", "TA0005"])
    assert f["wazuh:60122"]["entities"]["user"] == "administrator"


def test_default_min_severity_drops_informational_alerts(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    ingest(store, [DATA / "wazuh_alerts.json"])
    detect(store, DetectSettings())
    rules = set(by_rule(store))
    assert {"wazuh:5712", "wazuh:31151", "wazuh:550", "wazuh:60122", "suricata:2009358"} <= rules
    assert not rules & {"wazuh:503", "wazuh:60106", "wazuh:5402"}  # Wazuh level 3: notifications


def test_ten_thousand_identical_alerts_are_one_finding_per_hour(store_dir: Path, tmp_path: Path) -> None:
    p = tmp_path / "alerts.json"
    lines = [wazuh_line("5710", "sshd: Attempt to login using a non-existent user", 5,
                        T0 + timedelta(seconds=i * 0.3)) for i in range(10_000)]
    lines += [wazuh_line("5710", "sshd: Attempt to login using a non-existent user", 5,
                         T0 + timedelta(hours=1, seconds=i)) for i in range(3)]
    lines += [wazuh_line("5710", "sshd: Attempt to login using a non-existent user", 5, T0, src="198.51.100.9")]
    p.write_bytes(b"\n".join(lines) + b"\n")
    store = Store.open(store_dir, create=True)
    ingest(store, [p])
    detect(store)
    rows = findings(store)
    counts = sorted((r["extra"]["bucket"], r["entities"]["src_ip"], r["extra"]["count"]) for r in rows)
    assert counts == [("2024-03-01T10:00:00Z", "198.51.100.9", 1), ("2024-03-01T10:00:00Z", "203.0.113.50", 10_000),
                      ("2024-03-01T11:00:00Z", "203.0.113.50", 3)]
    big = next(r for r in rows if r["extra"]["count"] == 10_000)
    assert len(big["evidence"]) == 10 and [e["record"] for e in big["evidence"]] == list(range(1, 11))
    assert big["time"] == T0 and big["time_last"] == T0 + timedelta(seconds=9999 * 0.3)


def test_ids_are_stable_and_runs_are_incremental(store_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_bytes(b"\n".join(wazuh_line("5710", "sshd: Attempt to login using a non-existent user", 5,
                                        T0 + timedelta(minutes=i)) for i in range(5)) + b"\n")
    b.write_bytes(b"\n".join(wazuh_line("5710", "sshd: Attempt to login using a non-existent user", 5,
                                        T0 + timedelta(minutes=30 + i)) for i in range(2)) + b"\n")
    store = Store.open(store_dir, create=True)
    ingest(store, [a])
    assert detect(store)["groups"] == 1
    first = findings(store)
    assert detect(store)["groups"] == 0  # nothing new: nothing recomputed
    assert findings(store) == first
    ingest(store, [b])  # more alerts in the same hour: the same finding, a bigger count
    assert detect(store)["groups"] == 1
    after = findings(store)
    assert [f["id"] for f in after] == [f["id"] for f in first]
    assert after[0]["extra"]["count"] == 7 and after[0]["time_last"] == T0 + timedelta(minutes=31)
    # a full recompute in a fresh store gives the same ids and content
    other = Store.open(tmp_path / "other", create=True)
    ingest(other, [a, b])
    detect(other)
    strip = [{k: v for k, v in f.items() if k != "evidence"} for f in findings(other)]
    assert strip == [{k: v for k, v in f.items() if k != "evidence"} for f in after]
    opts = DetectSettings(min_severity=Severity.INFORMATIONAL, options={"import.full": True})
    assert detect(store, opts)["groups"] == 1


def test_since_until_recompute_the_range_and_do_not_mark_progress(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    ingest(store, [DATA / "wazuh_alerts.json"])
    ranged = DetectSettings(min_severity=Severity.INFORMATIONAL, since=datetime(2024, 3, 1, 11, 10, tzinfo=UTC),
                            until=datetime(2024, 3, 1, 11, 20, tzinfo=UTC))
    stats = detect(store, ranged)
    # the range widens to whole buckets (11:00-12:00): the four alerts of that hour
    assert stats["groups"] == 4 and stats["ingests"] == []
    assert {f["rule_id"] for f in findings(store)} == {"wazuh:60122", "suricata:2009358", "wazuh:503",
                                                       "wazuh:60106"}
    assert detect(store)["groups"] == 8  # the ranged run absorbed nothing: a plain run does everything


# ----------------------------------------------------------------------------------------------
# Other sensors, in the table shapes their parsers write
# ----------------------------------------------------------------------------------------------
def eve(sid: int, signature: str, category: str, severity: int, src: str, dst: str, when: datetime,
        metadata: dict[str, list[str]] | None = None) -> dict[str, Any]:
    rec = {"timestamp": when.isoformat(), "event_type": "alert", "src_ip": src, "dest_ip": dst, "proto": "TCP",
           "alert": {"signature_id": sid, "signature": signature, "category": category, "severity": severity,
                     "action": "allowed", "metadata": metadata or {}},
           "tls": {"sni": "Update.Example-CDN.net"}}
    return {"time": when, "record": 0, "raw": orjson.dumps(rec).decode(), "sensor": "suricata", "host": "sensor01",
            "signature": signature, "signature_id": str(sid), "category": category, "severity": str(severity),
            "src_ip": src, "dst_ip": dst, "protocol": "tcp", "dst_port": 443}


def test_suricata_eve_zeek_notice_and_defender_rows(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    rows = [
        eve(2030001, "ET MALWARE Example Beacon", "A Network Trojan was detected", 1, "10.1.1.5", "198.51.100.7", T0,
            {"mitre_tactic_id": ["TA0011"], "mitre_technique_id": ["T1071.001"], "signature_severity": ["Critical"]}),
        eve(2030001, "ET MALWARE Example Beacon", "A Network Trojan was detected", 1, "10.1.1.5", "198.51.100.7",
            T0 + timedelta(minutes=5)),
        eve(2100498, "GPL ATTACK_RESPONSE id check returned root", "Potentially Bad Traffic", 2, "198.51.100.7",
            "10.1.1.5", T0),
        eve(2221000, "SURICATA HTTP unable to match response to request", "Generic Protocol Command Decode", 3,
            "10.1.1.5", "10.1.1.6", T0),
    ]
    for i, r in enumerate(rows, 1):
        r["record"] = i
    put_rows(store, "ids_alert", rows, name="eve.json")
    put_rows(store, "ids_alert", [
        {"time": T0, "record": 1, "raw": "-", "sensor": "zeek", "signature": "Scan::Port_Scan",
         "message": "10.1.1.9 scanned at least 15 unique ports of host 10.1.1.5 in 0m2s", "src_ip": "10.1.1.9",
         "dst_ip": "10.1.1.5"},
    ], name="notice.log")
    put_rows(store, "ids_alert", [
        {"time": T0, "record": 1, "raw": "-", "sensor": "defender", "signature": "Suspicious remote service creation",
         "signature_id": "da1234", "category": "LateralMovement", "severity": "High", "host": "ws07",
         "user": "CORP\\alice", "process_path": "C:\\Windows\\System32\\services.exe"},
    ], name="defender.json")
    put_rows(store, "auth", [{"time": T0, "record": 1, "raw": "-", "src_ip": "10.1.1.5", "workstation": "WS05"}])
    detect(store)
    f = by_rule(store)
    beacon = f["suricata:2030001"]
    # signature metadata read from the raw EVE record: explicit ids and the rule's own severity
    assert (beacon["tactics"], beacon["techniques"], beacon["severity"]) == (["TA0011"], ["T1071.001"], "critical")
    assert beacon["extra"]["count"] == 2 and beacon["extra"]["attack_basis"] == "alert"
    assert beacon["entities"]["host"] == ["sensor01", "ws05"]  # 10.1.1.5 is WS05 (logon evidence)
    assert beacon["entities"]["domain"] == "update.example-cdn.net"
    # no metadata: GPL category, inbound
    assert f["suricata:2100498"]["tactics"] == ["TA0002"] and f["suricata:2100498"]["severity"] == "medium"
    decoder = f["suricata:2221000"]
    assert (decoder["tactics"], decoder["severity"], decoder["extra"]["attack_basis"]) == \
        ([], "low", "unmapped:suricata_engine")
    zeek = f["zeek:Scan::Port_Scan"]
    assert (zeek["tactics"], zeek["techniques"], zeek["severity"]) == (["TA0007"], ["T1046"], "low")
    assert zeek["extra"]["message"].startswith("10.1.1.9 scanned")
    d = f["defender:da1234"]
    assert (d["tactics"], d["severity"], d["stage"]) == (["TA0008"], "high", "lateral_movement")
    assert d["entities"]["process"] == "C:\\Windows\\System32\\services.exe" and d["entities"]["user"] == "CORP\\alice"


@pytest.mark.shared
def test_defender_antivirus_evtx(shared: type, store_dir: Path) -> None:
    """Real Defender events (1116 detected + 1117 action taken, Atomic Red Team payloads): one finding per
    threat and hour, severity from Defender's own threat severity."""
    store = Store.open(store_dir, create=True)
    ingest(store, [shared("evtx-attack-samples", "AutomatedTestingTools",
                          "WinDefender_Events_1117_1116_AtomicRedTeam.evtx")])
    detect(store)
    rows = findings(store)
    (n,) = table_rows(store, "SELECT count(*) AS n, count(DISTINCT signature_id) AS threats FROM ids_alert")
    assert n["n"] == 11 and len(rows) == n["threats"] == 5
    # detected (1116, twice for Jsprat) + action taken (1117): same threat, same hour -> one finding
    assert sorted(r["extra"]["count"] for r in rows) == [2, 2, 2, 2, 3]
    by_title = {r["title"]: r for r in rows}
    powersploit = by_title["Trojan:PowerShell/Powersploit.M"]
    assert powersploit["severity"] == "critical"  # Defender "Severe"
    assert powersploit["rule_id"] == "microsoft defender antivirus:2147725349"
    assert powersploit["entities"]["host"] == "msedgewin10" and powersploit["entities"]["user"] == "MSEDGEWIN10\\IEUser"
    assert "Get-Keystrokes.ps1" in powersploit["entities"]["file"]
    assert by_title["HackTool:JS/Jsprat"]["severity"] == "high"
    assert all(not r["tactics"] for r in rows)  # a malware family name says no tactic: none is guessed


# ----------------------------------------------------------------------------------------------
# Real data: AIT-ADS
# ----------------------------------------------------------------------------------------------
@pytest.mark.shared
def test_ait_ads_findings_grouped_and_mapped(shared: type, store_dir: Path) -> None:
    paths = [shared("ait-ads", "alerts_csv", f"{s}_alerts.txt.gz") for s in ("russellmitchell", "shaw")]
    store = Store.open(store_dir, create=True)
    ingest(store, paths)
    stats = detect(store)
    (n,) = table_rows(store, "SELECT count(*) AS n FROM ids_alert")
    assert stats["alerts"] == n["n"] == 45_544 + 70_782
    assert stats["groups"] < n["n"] / 20  # grouping: far fewer findings than alerts
    rows = findings(store)
    assert sum(r["extra"]["count"] for r in rows) == n["n"]
    mapped = [r for r in rows if r["tactics"]]
    tactics = {t for r in mapped for t in r["tactics"]}
    assert {"TA0043", "TA0006", "TA0004", "TA0001"} <= tactics, tactics
    assert all(r["severity"] != "informational" for r in mapped)
    assert all(r["severity"] == "informational" for r in rows if not r["tactics"])
    # reconnaissance findings fall inside the data set's scan phases (labels used to measure only)
    phases = list(csv.DictReader(io.StringIO(shared("ait-ads", "attack_phases.csv").read_text())))

    def window(scenario: str, phase: str) -> tuple[datetime, datetime]:
        (p,) = [p for p in phases if p["scenario"] == scenario and p["phase"] == phase]
        return (datetime.fromisoformat(p["start_utc"].replace("Z", "+00:00")),
                datetime.fromisoformat(p["end_utc"].replace("Z", "+00:00")))

    for scenario in ("russellmitchell", "shaw"):
        lo, _ = window(scenario, "network_scans")
        _, hi = window(scenario, "wpscan")
        recon = [r for r in mapped if "TA0043" in r["tactics"] and scenario in r["evidence"][0]["source"]]
        assert recon and any(lo - timedelta(minutes=1) <= r["time"] <= hi + timedelta(minutes=1) for r in recon)


@pytest.mark.shared
def test_blanking_ground_truth_changes_no_finding(shared: type, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest an AIT-ADS scenario as is and with its label columns blanked, detect, compare every finding.
    Only what must differ may differ: the content hash in event ids (the files differ)."""
    src = shared("ait-ads", "alerts_csv", "russellmitchell_alerts.txt.gz")
    with gzip.open(src, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    label_cols = [i for i, c in enumerate(header) if c in ("label", "detailedlabel", "time_label", "event_label")]
    assert label_cols == [5, 6]
    blanked = [header] + [[("" if i in label_cols else v) for i, v in enumerate(r)] for r in rows[1:]]
    assert blanked != rows
    results = []
    for name, content in (("as_is", rows), ("blanked", blanked)):
        d = tmp_path / name
        d.mkdir()
        with open(d / "alerts.csv", "w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(content)
        monkeypatch.chdir(d)  # the same relative source path in both stores
        store = Store.open(d / "store", create=True)
        ingest(store, ["alerts.csv"])
        detect(store)
        labels = table_rows(store, "SELECT count(DISTINCT data->>'time_label') AS n FROM ids_alert")[0]["n"]
        results.append((findings(store), labels))
        shutil.rmtree(d / "store")
    (as_is, labels_as_is), (blank, labels_blank) = results
    assert labels_as_is > 1 and labels_blank == 1  # the labels really were there, and really were blanked
    assert len(as_is) > 1000

    def comparable(fs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for f in fs:
            g = dict(f)
            g["evidence"] = [{**e, "event_id": e["event_id"].split("-", 1)[1]} for e in f["evidence"]]
            out.append(g)
        return out

    assert comparable(as_is) == comparable(blank)


# ----------------------------------------------------------------------------------------------
# Real data through the network parsers (Suricata EVE, Zeek)
# ----------------------------------------------------------------------------------------------
@pytest.mark.shared
def test_suricata_eve_alert_samples(shared: type, store_dir: Path) -> None:
    """ET Open alerts Suricata raised over public pcaps (CCDC, FIRST 2015, honeypot): ET categories and
    classifications read with direction; policy/info categories and engine events stay unmapped."""
    needs_source("suricata_eve")
    root = shared("suricata-alert-samples", "samples")
    store = Store.open(store_dir, create=True)
    ingest(store, sorted(root.glob("*/alerts-only.json")))
    (n,) = table_rows(store, "SELECT count(*) AS n FROM ids_alert WHERE sensor = 'suricata'")
    assert n["n"] == 207 + 161 + 136 + 44
    detect(store)
    rows = findings(store)
    assert sum(r["extra"]["count"] for r in rows) == n["n"]
    by_basis: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_basis.setdefault(r["extra"]["attack_basis"], []).append(r)
    for r in by_basis["et_category:SCAN"]:
        expected = ["TA0007"] if r["extra"]["direction"] == "internal" else ["TA0043"]
        assert r["tactics"] == expected, r
    assert {tuple(r["tactics"]) for r in by_basis["et_category:WEB_SERVER"]} <= {("TA0001",), ("TA0008",)}
    assert all(not r["tactics"] for b, rs in by_basis.items() if b.startswith("unmapped") for r in rs)
    assert any(b == "unmapped:et_category:POLICY" for b in by_basis)
    trojans = by_basis["et_category:TROJAN"] + by_basis.get("et_category:MALWARE", [])
    assert trojans and all(r["tactics"] == ["TA0011"] for r in trojans)
    # the host of an alert is a host key, never an outside address
    from aptwatch.context.networks import InternalNetworks, parse_ip

    nets = InternalNetworks()
    for r in rows:
        hosts = r["entities"].get("host", [])
        for h in [hosts] if isinstance(hosts, str) else hosts:
            assert parse_ip(h) is None or nets.contains(h), r


@pytest.mark.shared
def test_blanking_zeek_notice_labels_changes_no_finding(shared: type, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Stratosphere's labelled Zeek notice.log (columns `label`, `detailedlabel`): blanking them changes nothing."""
    needs_source("zeek_tsv")
    text = shared("stratosphere-zeek", "008-zeek-mixed", "data", "notice.log.labeled").read_text()
    lines = text.split("\n")
    fields = next(ln for ln in lines if ln.startswith("#fields")).split("\t")[1:]
    cols = [fields.index("label"), fields.index("detailedlabel")]
    blanked = []
    for ln in lines:
        if ln and not ln.startswith("#"):
            parts = ln.split("\t")
            for c in cols:
                parts[c] = "-"
            ln = "\t".join(parts)
        blanked.append(ln)
    assert blanked != lines
    results = []
    for name, content in (("as_is", text), ("blanked", "\n".join(blanked))):
        d = tmp_path / name
        d.mkdir()
        (d / "notice.log").write_text(content)
        monkeypatch.chdir(d)
        store = Store.open(d / "store", create=True)
        ingest(store, ["notice.log"])
        detect(store)
        (labels,) = table_rows(store, "SELECT count(DISTINCT data->>'detailedlabel') AS n FROM ids_alert")
        results.append((findings(store), labels["n"]))
    (as_is, n_as_is), (blank, n_blank) = results
    assert n_as_is > 1 and n_blank <= 1 and len(as_is) > 5

    def comparable(fs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**f, "evidence": [{**e, "event_id": e["event_id"].split("-", 1)[1]} for e in f["evidence"]]}
                for f in fs]

    assert comparable(as_is) == comparable(blank)
