"""The Windows mapping (sources/windows/mapping.py) against the schema, and the builder's rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.model.schema import EVENTS
from aptwatch.sources.windows.builder import WinBatchBuilder, guid_text, parse_int, parse_time_text
from aptwatch.sources.windows.mapping import DERIVED, LOGS, index

ISSUE_EVENTS = {
    "sysmon": set(range(1, 30)),
    "security": {4624, 4625, 4634, 4647, 4648, 4656, 4657, 4661, 4662, 4663, 4672, 4673, 4674, 4688, 4689, 4697,
                 4698, 4699, 4700, 4701, 4702, 4719, 4720, 4722, 4724, 4725, 4726, 4728, 4732, 4738, 4742, 4756,
                 4768, 4769, 4770, 4771, 4776, 4778, 4779, 5136, 5140, 5145, 5156},
    "eventlog": {1102, 104},
    "scm": {7045, 7036, 7040},
    "powershell": {4103, 4104},
    "powershell_classic": {400, 403, 600, 800},
    "wmi": {5857, 5858, 5859, 5860, 5861},
    "taskscheduler": {106, 140, 141, 200, 201},
    "defender": {1116, 1117, 5001, 5007},
    "ts_lsm": {21, 22, 23, 24, 25},
    "ts_rcm": {1149},
    "ts_rdpclient": {1024, 1102},
    "bits": {3, 4, 5, 59, 60},
}


def test_every_copied_field_is_a_sigma_alias_of_its_column() -> None:
    problems = []
    for log in LOGS:
        for eid, em in log.events.items():
            table = EVENTS[em.table]
            for column, field in em.fields.items():
                if not table.has(column):
                    problems.append(f"{log.name} {eid}: {em.table}.{column} does not exist")
                elif field not in table.column(column).sigma:
                    problems.append(f"{log.name} {eid}: {field} -> {em.table}.{column} is not a Sigma alias")
            for column in (*em.const, *(("action",) if em.action or em.action_by else ())):
                if not table.has(column):
                    problems.append(f"{log.name} {eid}: constant column {em.table}.{column} does not exist")
            assert len(set(em.fields.values())) == len(em.fields), f"{log.name} {eid}: a field fills two columns"
    for table, columns in DERIVED.items():
        for column in columns:
            if not EVENTS[table].has(column):
                problems.append(f"derived {table}.{column} does not exist")
    assert problems == []


def test_every_event_the_issue_lists_is_mapped() -> None:
    by_name = {log.name: log for log in LOGS}
    for name, ids in ISSUE_EVENTS.items():
        missing = ids - set(by_name[name].events)
        assert not missing, f"{name}: {sorted(missing)} not mapped"


def test_lookup_by_provider_then_channel() -> None:
    b = WinBatchBuilder()
    assert b.mapping_for("Microsoft-Windows-Sysmon", None, 1).table == "process"  # type: ignore[union-attr]
    assert b.mapping_for("MICROSOFT-WINDOWS-SYSMON", "x", 1).table == "process"  # type: ignore[union-attr]
    assert b.mapping_for(None, "security", 4624).table == "auth"  # type: ignore[union-attr]
    # same EventID, different provider: Security 1102 (log cleared) vs RDP client 1102
    assert b.mapping_for("Microsoft-Windows-Eventlog", "Security", 1102).table == "logging"  # type: ignore[union-attr]
    rdp = b.mapping_for("Microsoft-Windows-TerminalServices-ClientActiveXCore", None, 1102)
    assert rdp is not None and rdp.table == "auth"
    assert b.mapping_for("Some-Provider", "Application", 1) is None
    assert b.mapping_for("Microsoft-Windows-Sysmon", None, "1") is None  # event ids are normalised by the sources
    assert len(index()) > 200


def _build(events: list[tuple[Any, ...]]) -> tuple[dict[str, list[dict[str, Any]]], list[IngestWarning]]:
    b = WinBatchBuilder()
    for e in events:
        b.add(*e)
    out: dict[str, list[dict[str, Any]]] = {}
    warns: list[IngestWarning] = []
    for item in b.flush():
        if isinstance(item, TableBatch):
            out.setdefault(item.table, []).extend(item.data.to_pylist())
        else:
            warns.append(item)
    assert b.rows == 0
    return out, warns


def test_values_a_column_cannot_hold_stay_in_data() -> None:
    t = "2024-03-01T10:00:00.1234567Z"
    out, warns = _build([
        (1, t, "WS01.corp.example", "Security", "Microsoft-Windows-Security-Auditing", 4624,
         {"TargetUserName": "bob", "IpPort": "-", "LogonType": "3", "ProcessId": "0x1f4", "LogonGuid":
          "7AB1D4E2-0000-0000-0000-000000000000"}, "{}"),
        (2, t, "ws01", "Security", "Microsoft-Windows-Security-Auditing", 4624,
         {"TargetUserName": "eve", "IpPort": 99999999999, "LogonType": 10}, "{}"),
    ])
    assert warns == []
    a, b = out["auth"]
    assert a["time"] == datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)  # 100 ns ticks cut to us
    assert (a["host"], a["src_port"], a["logon_type"], a["process_id"]) == ("ws01", None, 3, 500)
    assert json.loads(a["data"]) == {"IpPort": "-", "LogonGuid": "{7ab1d4e2-0000-0000-0000-000000000000}"}
    assert (b["src_port"], b["logon_type"]) == (None, 10)
    assert json.loads(b["data"]) == {"IpPort": "99999999999"}  # out of INTEGER range: kept, as text


def test_unknown_events_keep_all_fields_and_bad_times_warn() -> None:
    out, warns = _build([
        (5, "not a time", "HOST", "Application", "MsiInstaller", 1040,
         {"Data": ["a", 2, None], "Binary": None, "Nested": {"x": 1}}, '{"raw": 1}'),
        (6, "2024-03-01 10:00:00", "HOST", "Application", "MsiInstaller", 1040, {}, "{}"),
    ])
    g = out["generic"]
    # values as Windows renders them in XML text: numbers as text, null as empty
    assert json.loads(g[0]["data"]) == {"Data": ["a", "2", ""], "Binary": "", "Nested": '{"x":1}'}
    assert g[0]["raw"] == '{"raw": 1}' and g[0]["time"] is None and g[1]["data"] is None
    assert g[1]["time"] == datetime(2024, 3, 1, 10, tzinfo=UTC)  # no offset: the local zone (UTC here)
    assert [(w.reason, w.position) for w in warns] == [("bad_time", 5)]


def test_derived_columns() -> None:
    t = "2024-03-01T10:00:00Z"
    ctx = ("        Host Application = C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -enc AA\r\n"
           "        Engine Version = 5.1\r\n        User = CORP\\bob\r\n")
    out, _ = _build([
        (1, t, "h", "Security", "Microsoft-Windows-Security-Auditing", 4769,
         {"Status": "0x0", "TargetUserName": "bob"}, "{}"),
        (2, t, "h", "Security", "Microsoft-Windows-Security-Auditing", 4769,
         {"Status": "0x20", "TargetUserName": "bob"}, "{}"),
        (3, t, "h", "Microsoft-Windows-PowerShell/Operational", "Microsoft-Windows-PowerShell", 4103,
         {"ContextInfo": ctx, "Payload": "x"}, "{}"),
        (4, t, "h", "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 12,
         {"EventType": "DeleteKey", "TargetObject": "HKLM\\x"}, "{}"),
        (5, t, "h", "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 12,
         {"EventType": "CreateKey", "TargetObject": "HKLM\\y"}, "{}"),
        (6, t, "h", "Windows PowerShell", "PowerShell", 400,
         {"param1": "Available", "param2": "None", "param3": "\tNewEngineState=Available\r\n\tHostName=ConsoleHost"
          "\r\n\tHostApplication=powershell.exe -nop\r\n\tEngineVersion=2.0\r\n"}, "{}"),
        (7, t, "h", "Security", "Microsoft-Windows-Security-Auditing", 4732,
         {"TargetUserName": "Administrators", "MemberSid": "S-1-5-21-1"}, "{}"),
    ])
    ok, bad = out["auth"]
    assert (ok["outcome"], bad["outcome"], ok["protocol"]) == ("success", "failure", "kerberos")
    module, classic = out["script"]
    assert module["host_application"].endswith("powershell.exe -enc AA") and module["user"] == "CORP\\bob"
    assert module["engine_version"] == "5.1" and module["action"] == "module"
    assert classic["host_application"] == "powershell.exe -nop" and classic["engine_version"] == "2.0"
    assert classic["data_text"].startswith("Available\nNone\n\tNewEngineState=Available")
    assert json.loads(classic["data"]) == {"NewEngineState": "Available", "HostName": "ConsoleHost"}
    assert [r["action"] for r in out["registry"]] == ["delete", "create_key"]
    assert out["account"][0]["group_name"] == "Administrators"


def test_helpers() -> None:
    assert parse_int("0x1F4") == 500 and parse_int(" 42 ") == 42 and parse_int("-") is None
    assert parse_int(True) is None and parse_int(3.0) == 3
    assert parse_time_text("2024-03-01 10:00:00.1234567 UTC", UTC) == datetime(2024, 3, 1, 10, 0, 0, 123456,
                                                                                 tzinfo=UTC)
    assert parse_time_text("2024-03-01T12:00:00+02:00", UTC) == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert parse_time_text("yesterday", UTC) is None
    assert guid_text("365ABB72-517E-5CD8-0000-001024D61700") == "{365abb72-517e-5cd8-0000-001024d61700}"
    # lower-case text is a string field (e.g. PowerShell ScriptBlockId), not evtx's GUID rendering: unchanged
    assert guid_text("37f6d110-cfdf-4118-8748-17638e258531") == "37f6d110-cfdf-4118-8748-17638e258531"
    assert guid_text("not-a-guid-but-36-characters-long!!") == "not-a-guid-but-36-characters-long!!"


def test_batches_follow_the_schema() -> None:
    b = WinBatchBuilder(batch_rows=2)
    b.add(1, "2024-01-01T00:00:00Z", "h", "Security", "Microsoft-Windows-Security-Auditing", 4688,
          {"NewProcessName": "C:\\a\\b.exe", "NewProcessId": "0x10", "ProcessId": "0x4"}, "{}")
    assert not b.full
    b.add(2, "2024-01-01T00:00:00Z", "h", "Security", "Microsoft-Windows-Security-Auditing", 4688, {}, "{}")
    assert b.full
    (batch,) = [x for x in b.flush() if isinstance(x, TableBatch)]
    assert batch.table == "process" and isinstance(batch.data, pa.Table)
    first = batch.data.to_pylist()[0]
    assert (first["process_id"], first["process_name"]) == (16, "b.exe")
    assert json.loads(first["data"]) == {"ProcessId": "0x4"}  # 4688's ProcessId is the creator: kept as logged


def test_docs_windows_mapping_is_generated_and_current() -> None:
    from pathlib import Path

    from aptwatch.sources.windows.mapping import render_markdown

    on_disk = (Path(__file__).resolve().parents[2] / "docs" / "windows_mapping.md").read_text()
    assert on_disk.strip() == render_markdown().strip(), (
        "docs/windows_mapping.md is stale: run `python -m aptwatch.sources.windows.mapping > docs/windows_mapping.md`")
