"""Test helpers: render real .evtx events in the export formats aptwatch reads.

The evtx package renders each record as XML and as JSON; from the XML we build what
winlogbeat, NXLog and Azure Log Analytics would ship for the same event, following their
documented conventions (winlogbeat: every EventData value as text, positional <Data> as
param1..N, UserData with `xml_name`; NXLog: EventData fields flat next to its own fields,
no UserData; Azure SecurityEvent: EventData as XML text; WindowsEvent: EventData as JSON).
Our own generated XML is trusted, so the standard library parser is fine here.
"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import evtx

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"


def records(path: Path) -> list[tuple[int, str, str]]:
    """(record number, XML, JSON) of every record, as the evtx package renders them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        xml = [(r["event_record_id"], r["data"]) for r in evtx.PyEvtxParser(str(path), number_of_threads=1).records()]
        js = [r["data"] for r in evtx.PyEvtxParser(str(path), number_of_threads=1).records_json()]
    return [(n, x, j) for (n, x), j in zip(xml, js, strict=True)]


def _text(el: ET.Element) -> str:
    t = el.text or ""
    return "" if t.startswith("\n") and not t.strip() else t


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse(xml: str) -> dict[str, Any]:
    """The parts of an event an exporter reads, from its XML."""
    body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
    root = ET.fromstring(body.replace("\r", "&#13;"))
    system = {_local(c.tag): c for c in root.find(NS + "System")}  # type: ignore[union-attr]
    named: dict[str, str] = {}
    positional: list[str] = []
    user_data: dict[str, Any] | None = None
    ed = root.find(NS + "EventData")
    if ed is not None:
        for d in ed:
            if _local(d.tag) == "Data" and d.get("Name") is not None:
                named[d.get("Name")] = _text(d)  # type: ignore[index]
            elif _local(d.tag) == "Data":
                positional.append(_text(d))
            else:
                named[_local(d.tag)] = _text(d)
    ud = root.find(NS + "UserData")
    if ud is not None and len(ud):
        child = ud[0]
        user_data = {"xml_name": _local(child.tag)}
        for c in child:
            user_data[_local(c.tag)] = _text(c)
    return {
        "time": system["TimeCreated"].get("SystemTime"),
        "computer": _text(system["Computer"]),
        "channel": (_text(system["Channel"]) or None) if "Channel" in system else None,
        "provider": system["Provider"].get("Name"),
        "event_id": _text(system["EventID"]),
        "record_id": _text(system["EventRecordID"]),
        "pid": system["Execution"].get("ProcessID") if "Execution" in system else None,
        "sid": system["Security"].get("UserID") if "Security" in system else None,
        "activity": system["Correlation"].get("ActivityID") if "Correlation" in system else None,
        "named": named,
        "positional": positional,
        "user_data": user_data,
        "has_nested": any(len(c) for c in (ud[0] if ud is not None and len(ud) else [])),
        "processing_error": root.find(NS + "ProcessingErrorData") is not None,
    }


def _braced(guid: str | None) -> str | None:
    return None if not guid else "{" + guid.strip("{}").upper() + "}"


def winlogbeat(e: dict[str, Any]) -> dict[str, Any]:
    event_data = dict(e["named"])
    for i, v in enumerate(e["positional"], 1):
        event_data[f"param{i}"] = v
    w: dict[str, Any] = {"channel": e["channel"], "provider_name": e["provider"], "event_id": e["event_id"],
                         "computer_name": e["computer"], "record_id": int(e["record_id"])}
    if event_data:
        w["event_data"] = event_data
    if e["user_data"]:
        w["user_data"] = e["user_data"]
    if e["pid"] is not None:
        w["process"] = {"pid": int(e["pid"]), "thread": {"id": 1}}
    if e["sid"]:
        w["user"] = {"identifier": e["sid"], "name": "x", "domain": "y", "type": "User"}
    if e["activity"]:
        w["activity_id"] = _braced(e["activity"])
    return {"@timestamp": e["time"], "event": {"code": e["event_id"], "kind": "event"},
            "host": {"name": e["computer"].lower()}, "winlog": w, "message": "rendered text", "ecs": {"version": "8"}}


def nxlog(e: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"EventTime": e["time"][:19].replace("T", " "), "Hostname": e["computer"],
                           "Keywords": -9223372036854775808, "EventType": "INFO", "SeverityValue": 2,
                           "Severity": "INFO", "EventID": int(e["event_id"]), "SourceName": e["provider"],
                           "RecordNumber": int(e["record_id"]), "Channel": e["channel"],
                           "Message": "rendered text", "SourceModuleName": "eventlog",
                           "SourceModuleType": "im_msvistalog", "@timestamp": e["time"], "tags": ["x"]}
    if e["pid"] is not None:
        out["ExecutionProcessID"] = int(e["pid"])
        out["ThreadID"] = 1
    if e["sid"]:
        out["UserID"] = e["sid"]
    if e["activity"]:
        out["ActivityID"] = _braced(e["activity"])
    out.update(e["named"])
    return out


def azure_security_event(e: dict[str, Any]) -> dict[str, Any]:
    data = "".join(f'  <Data Name="{k}">{_esc(v)}</Data>\r\n' for k, v in e["named"].items())
    return {"TenantId": "t", "TimeGenerated": e["time"], "SourceSystem": "OpsManager", "Computer": e["computer"],
            "EventSourceName": e["provider"], "Channel": e["channel"], "Task": 1, "Level": "0",
            "EventData": '<EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event">\r\n' + data
            + "</EventData>", "EventID": int(e["event_id"]), "Activity": "x", "Type": "SecurityEvent",
            "EventRecordId": e["record_id"], "SystemProcessId": e["pid"], "SystemUserId": e["sid"]}


def azure_windows_event(e: dict[str, Any]) -> dict[str, Any]:
    return {"TenantId": "t", "TimeGenerated": e["time"], "Provider": e["provider"], "Channel": e["channel"],
            "Computer": e["computer"], "EventID": int(e["event_id"]), "EventData": json.dumps(e["named"]),
            "Type": "WindowsEvent", "EventRecordId": e["record_id"], "SystemProcessId": e["pid"],
            "SystemUserId": e["sid"]}


def _esc(v: str) -> str:
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
