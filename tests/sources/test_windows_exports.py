"""Windows events exported as JSON / XML: one mapping, so the same event gives the same row from
the .evtx and from every export; golden rows on the real exports in ../shared/data; sniffing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from aptwatch.model.schema import EVENTS
from aptwatch.sources import SOURCES, detect_format
from aptwatch.sources.azure_windows import AzureWindows
from aptwatch.sources.base import HEAD_BYTES, Layer, ReadContext, SourceRef
from aptwatch.sources.evtx import Evtx
from aptwatch.sources.evtx_json import EvtxJson
from aptwatch.sources.nxlog import NXLog
from aptwatch.sources.otrf import Otrf
from aptwatch.sources.winevent_xml import WinEventXml
from aptwatch.sources.winlogbeat import Winlogbeat
from tests.conftest import shared_path
from tests.sources import winexport
from tests.sources.winhelp import count, read_all, rows

#: samples covering Sysmon, Security (logon, Kerberos, tasks, shares, accounts), System, PowerShell (classic and
#: operational), BITS, Remote Desktop, Defender, UserData, unnamed <Data>, ProcessingErrorData, an ETW trace
IDENTITY_SAMPLES = [
    ("Execution", "exec_sysmon_1_lolbin_pcalua.evtx"),
    ("Defense Evasion", "DE_suspicious_remote_eventlog_svc_access_5145.evtx"),
    ("Defense Evasion", "DE_104_system_log_cleared.evtx"),
    ("Defense Evasion", "DE_UAC_Disabled_Sysmon_12_13.evtx"),
    ("Credential Access", "CA_4624_4625_LogonType2_LogonProc_chrome.evtx"),
    ("Credential Access", "phish_windows_credentials_powershell_scriptblockLog_4104.evtx"),
    ("Privilege Escalation", "samaccount_spoofing_CVE-2021-42287_CVE-2021-42278_DC_securitylogs.evtx"),
    ("Persistence", "Network_Service_Guest_added_to_admins_4732.evtx"),
    ("Lateral Movement", "LM_Remote_Service02_7045.evtx"),
    ("Lateral Movement", "LM_winrm_target_wrmlogs_91_wsmanShellStarted_poorLog.evtx"),
    ("Execution", "temp_scheduled_task_4698_4699.evtx"),
    ("Execution", "windows_bits_4_59_60_lolbas desktopimgdownldr.evtx"),
    ("Execution", "rogue_msi_url_1040_1042.evtx"),
    ("Other", "emotet", "exec_emotet_ps_800_new-object.evtx"),
    ("Credential Access", "etw_rpc_zerologon.evtx"),
]


def sample(*parts: str) -> Path:
    return shared_path("evtx-attack-samples", *parts)


def comparable(tables: dict[str, Any], drop: tuple[str, ...] = ("raw",)) -> list[dict[str, Any]]:
    """Rows with `data` parsed; '' and NULL are the same (XML cannot tell an empty value from a null one)."""
    out = []
    for r in rows(tables):
        r = {k: (None if v == "" else v) for k, v in r.items() if k not in drop}
        r["data"] = json.loads(r["data"]) if r["data"] else {}
        out.append(r)
    return out


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("parts", IDENTITY_SAMPLES, ids=lambda p: p[-1][:40])
def test_same_event_same_row_in_every_export(tmp_path: Path, parts: tuple[str, ...]) -> None:
    src = sample(*parts)
    expected = comparable(read_all(Evtx(), src)[0])
    recs = winexport.records(src)
    assert len(expected) == len(recs) > 0

    # XML as wevtutil / evtx_dump -o xml writes it (one declaration per event here), and in an <Events> root
    xml = "\n".join(x for _n, x, _j in recs)
    got = comparable(read_all(WinEventXml(), write(tmp_path / "e.xml", xml))[0])
    assert got == expected
    events_root = '<?xml version="1.0" encoding="UTF-16"?>\r\n<Events>' + "".join(
        x.split("?>", 1)[1] for _n, x, _j in recs) + "</Events>"
    got = comparable(read_all(WinEventXml(), write(tmp_path / "e16.xml", events_root.encode("utf-16")))[0])
    assert got == expected

    # evtx JSON: lines, evtx_dump's "Record N" + pretty documents, one array (chainsaw dump --json)
    lines = "\n".join(j for _n, _x, j in recs) + "\n"
    assert comparable(read_all(EvtxJson(), write(tmp_path / "e.jsonl", lines))[0]) == expected
    pretty = "".join(f"Record {n}\n{json.dumps(json.loads(j), indent=2)}\n" for n, _x, j in recs)
    assert comparable(read_all(EvtxJson(), write(tmp_path / "dump.txt", pretty))[0]) == expected
    array = json.dumps([json.loads(j) for _n, _x, j in recs], indent=1)
    assert comparable(read_all(EvtxJson(), write(tmp_path / "e.json", array))[0]) == expected

    # shippers: every value as text, their own envelope. Positional <Data> and ProcessingErrorData have no
    # faithful rendering there (winlogbeat names positional items param1..N), so those events are left out.
    parsed = [winexport.parse(x) for _n, x, _j in recs]
    keep = [i for i, e in enumerate(parsed) if not e["processing_error"]
            and (not e["positional"] or expected[i]["table"] == "script")]
    subset = [expected[i] for i in keep]
    wlb = "\n".join(orjson.dumps(winexport.winlogbeat(parsed[i])).decode() for i in keep) + "\n"
    got = comparable(read_all(Winlogbeat(), write(tmp_path / "wlb.json", wlb))[0], ("raw", "record"))
    assert got == [{k: v for k, v in r.items() if k != "record"} for r in subset]

    no_userdata = [i for i in keep if parsed[i]["user_data"] is None and parsed[i]["channel"]
                   and not parsed[i]["positional"]]
    if no_userdata:
        nx = "\n".join(orjson.dumps(winexport.nxlog(parsed[i])).decode() for i in no_userdata) + "\n"
        got = comparable(read_all(NXLog(), write(tmp_path / "nx.json", nx))[0], ("raw", "record"))
        assert got == [{k: v for k, v in expected[i].items() if k != "record"} for i in no_userdata]
        # Log Analytics keeps no Correlation/ActivityID
        az = [winexport.azure_windows_event(parsed[i]) for i in no_userdata]
        got = comparable(read_all(AzureWindows(), write(tmp_path / "az.json", json.dumps(az)))[0],
                         ("raw", "record"))
        assert got == [without_activity(expected[i]) for i in no_userdata]
        security = [i for i in no_userdata if parsed[i]["channel"] == "Security"]
        if security:
            se = "\n".join(orjson.dumps(winexport.azure_security_event(parsed[i])).decode() for i in security)
            got = comparable(read_all(AzureWindows(), write(tmp_path / "se.json", se))[0], ("raw", "record"))
            assert got == [without_activity(expected[i]) for i in security]


def without_activity(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "record"}
    out["data"] = {k: v for k, v in row["data"].items() if k != "ActivityID"}
    return out


def _loose(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _loose(x) for k, x in v.items()}
    return v.strip().lower() if isinstance(v, str) else v


def test_sigma_regression_data_json_equals_its_evtx() -> None:
    """SigmaHQ ships each test event twice, as .evtx and as the evtx package's pretty JSON. Its JSON was
    touched up by hand (trailing blanks of 80 command lines trimmed, one path re-cased), hence the
    comparison ignores surrounding blanks and case."""
    root = shared_path("sigma", "regression_data")
    pairs = [(j, j.with_suffix(".evtx")) for j in sorted(root.rglob("*.json")) if j.with_suffix(".evtx").exists()]
    assert len(pairs) > 100
    exact = 0
    for js, ev in pairs:
        got = comparable(read_all(EvtxJson(), js)[0], ("raw", "record"))
        want = comparable(read_all(Evtx(), ev)[0], ("raw", "record"))
        assert len(got) == len(want) > 0, js
        exact += got == want
        assert [_loose(r) for r in got] == [_loose(r) for r in want], js
    assert exact > len(pairs) / 2


# ------------------------------------------------------------------------------------- golden, real exports
def otrf(*parts: str) -> Path:
    return shared_path("otrf-atomic", "windows", *parts)


def member(archive: Path, name: str, kind: str = "zip") -> SourceRef:
    layers = (Layer("gzip"), Layer("tar", name)) if kind == "tar.gz" else (Layer("zip", name),)
    return SourceRef(str(archive), layers)


def read_ref(source: Any, ref: SourceRef) -> tuple[dict[str, Any], list[Any]]:
    ctx = ReadContext(ref, "0" * 64, 0)
    parts: dict[str, list[Any]] = {}
    warns = []
    try:
        for item in source.read(ctx):
            if hasattr(item, "table"):
                parts.setdefault(item.table, []).append(item.data)
            else:
                warns.append(item)
    finally:
        ctx.cleanup()
    import pyarrow as pa

    return {t: pa.concat_tables(p, promote_options="default") for t, p in parts.items()}, warns


def test_golden_otrf() -> None:
    p = otrf("discovery", "host", "cmd_discover_iexplorer_version_registry",
             "cmd_discover_iexplorer_version_registry_2020-10-2123281491.json")
    assert detect_format(p.read_bytes()[:HEADER_BYTES_], p.name).name == "otrf"  # type: ignore[union-attr]
    tables, warns = read_all(Otrf(), p)
    lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
    assert count(tables) == len(lines) == 68 and warns == []
    reg = next(r for r in rows(tables) if r["table"] == "registry" and r["event_code"] == 12)
    assert reg["host"] == "workstation5" and reg["channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert reg["process_guid"].startswith("{") and reg["process_path"].lower().endswith(".exe")
    src = json.loads(lines[reg["record"] - 1])
    assert reg["target_object"] == src["TargetObject"] and reg["event_type"] == src["EventType"]
    data = json.loads(reg["data"])
    assert "Message" not in data and "Hostname" not in data and data["RuleName"] == src["RuleName"]


def test_golden_nxlog_wmi_persistence_read_in_place() -> None:
    """NXLog drops UserData: WMI-Activity 5861 is read back from the rendered message."""
    ref = member(otrf("persistence", "host", "covenant_persistwmi.tar.gz"),
                 "covenant_persistwmi_2019-12-05044734.json", "tar.gz")
    tables, warns = read_ref(NXLog(), ref)
    assert count(tables) == 1001 and warns == []
    binding = next(r for r in rows(tables) if r["event_code"] == 5861)
    assert binding["action"] == "wmi_binding" and binding["table"] == "persistence"
    assert "CommandLineEventConsumer" in binding["consumer"] and binding["filter"].startswith("Evil Persistence")
    sysmon20 = next(r for r in rows(tables) if r["event_code"] == 20)
    assert sysmon20["action"] == "wmi_consumer" and "powershell" in sysmon20["image_path"]
    data = json.loads(sysmon20["data"])
    assert data["ExecutionProcessID"] == "3140"  # old NXLog's "ProcessID" is the System Execution PID


def test_golden_winlogbeat6() -> None:
    ref = member(otrf("defense_evasion", "host", "empire_enable_rdp.tar.gz"), "empire_enable_rdp_2019-05-18203650.json",
                 "tar.gz")
    tables, warns = read_ref(Winlogbeat(), ref)
    assert count(tables) == 2668 and warns == []
    proc = next(r for r in rows(tables) if r["event_code"] == 4688 and "reg.exe" in (r["process_path"] or ""))
    assert "fDenyTSConnections" in proc["command_line"] and proc["process_name"] == "reg.exe"
    assert proc["host"] == "hr001" and proc["parent_path"].endswith("powershell.exe")
    ps = next(r for r in rows(tables) if r["table"] == "script" and r["event_code"] == 800)
    assert ps["host_application"].startswith("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -noP")
    assert "HostApplication=" in ps["data_text"] and ps["user"] == "SHIRE\\nmartha"


def test_golden_azure_log_analytics() -> None:
    base = shared_path("otrf-compound", "Log4Shell")
    se = base / "securityauditing_log4shell_cve2021_44228_java_serialized_object" / \
        "securityauditing_log4shell_cve2021_44228_java_serialized_object_2022-05-13045400.json"
    tables, warns = read_all(AzureWindows(), se)
    assert count(tables) == 39 and warns == []
    conn = next(r for r in rows(tables) if r["event_code"] == 5156)
    assert (conn["table"], conn["src_ip"], conn["dst_ip"], conn["dst_port"], conn["process_id"]) == (
        "network", "192.168.3.5", "192.168.2.5", 8080, 3936)
    assert conn["process_path"].endswith("tomcat9.exe") and conn["host"] == "workstation5"
    sysmon = base / "sysmon_log4shell_cve2021_44228_java_serialized_object" / \
        "sysmon_log4shell_cve2021_44228_java_serialized_object_2022-05-13045800.json"
    tables, warns = read_all(AzureWindows(), sysmon)
    assert count(tables) == 487 and warns == []
    start = next(r for r in rows(tables) if r["event_code"] == 1)
    assert start["table"] == "process" and start["process_guid"].startswith("{")
    adfs = shared_path("otrf-compound", "GoldenSAMLADFSMailAccess", "WindowsEvents", "WindowsEvents.json")
    tables, warns = read_all(AzureWindows(), adfs)
    assert count(tables) == 38 and warns == []
    adfs_rows = [r for r in rows(tables) if r["provider"] == "AD FS Auditing"]
    assert adfs_rows and all(r["table"] == "generic" for r in adfs_rows)
    assert isinstance(json.loads(adfs_rows[0]["data"])["Data"], list)  # EventData_dynamic: positional values


HEADER_BYTES_ = HEAD_BYTES


# ------------------------------------------------------------------------------------------------ sniffing
def test_each_export_is_sniffed_by_its_source(tmp_path: Path) -> None:
    recs = winexport.records(sample("Execution", "exec_sysmon_1_lolbin_pcalua.evtx"))
    e = winexport.parse(recs[0][1])
    cases = {
        "winlogbeat": orjson.dumps(winexport.winlogbeat(e)) + b"\n",
        "nxlog": orjson.dumps(winexport.nxlog(e)) + b"\n",
        "azure_windows": orjson.dumps([winexport.azure_windows_event(e)]),
        "evtx_json": recs[0][2].encode() + b"\n",
        "winevent_xml": recs[0][1].encode(),
    }
    for name, content in cases.items():
        got = detect_format(content, "x")
        assert got is not None and got.name == name, name
        assert detect_format(content.decode().encode("utf-16"), "x").name == name  # type: ignore[union-attr]
    generic = [
        {"@timestamp": "2024-03-01T10:00:00Z", "host": {"name": "ws1"}, "event": {"code": 4624}, "message": "x"},
        {"TenantId": "t", "TimeGenerated": "2021-08-02T13:32:07Z", "Operation": "MailItemsAccessed",
         "Type": "OfficeActivity"},
        {"EventID": 4624, "Computer": "x"},
    ]
    for obj in generic:
        assert detect_format(orjson.dumps(obj) + b"\n", "x").name == "jsonl"  # type: ignore[union-attr]
    assert detect_format(b"<html><body>Event</body></html>", "x.xml") is None


def test_registered_and_schema_valid() -> None:
    for name in ("evtx", "evtx_json", "winlogbeat", "nxlog", "otrf", "azure_windows", "winevent_xml"):
        assert name in SOURCES
        assert SOURCES[name].priority < SOURCES["jsonl"].priority
    assert "logging" in EVENTS
