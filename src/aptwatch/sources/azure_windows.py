"""Windows events exported from Azure Log Analytics / Microsoft Sentinel: the `SecurityEvent`,
`Event` and `WindowsEvent` tables, as a JSON array or JSON lines (portal / API / `az monitor
log-analytics query` exports).

- SecurityEvent: `EventData` is the event's <EventData> XML as text (parsed with defusedxml);
  some rows carry `EventData_dynamic` (positional values) instead; rows whose EventData is
  empty keep the table's own columns (SubjectUserName, NewProcessName, ...) as fields;
- Event (MMA / AMA): `EventData` is XML wrapped in <DataItem>, `ParameterXml` positional;
  `Source` is the provider and `EventLog` the channel;
- WindowsEvent (AMA): `EventData` is a JSON object (or its text).
The time is `TimeGenerated`; `Computer` the host. Azure's own columns (TenantId, _ResourceId,
Activity, ...) are envelope: they stay in `raw`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element

import orjson

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.windows.builder import WinBatchBuilder, parse_int
from aptwatch.sources.windows.jsonread import first_objects, head_text
from aptwatch.sources.windows.reader import read_events, sniff_objects
from aptwatch.sources.windows.xmlutil import XML_ERRORS, local, parse_xml

TABLES = ("SecurityEvent", "Event", "WindowsEvent")
#: Azure's own columns: not event fields
ENVELOPE = frozenset({
    "TenantId", "SourceSystem", "TimeGenerated", "Computer", "EventSourceName", "Channel", "Task", "Level", "EventID",
    "Activity", "AccountType", "Account", "MG", "ManagementGroupName", "SourceComputerId", "EventOriginId",
    "TimeCollected", "Type", "_ResourceId", "_ItemId", "_Internal_WorkspaceResourceId", "_SubscriptionId",
    "EventData", "EventData_dynamic", "Provider", "EventLevel", "EventLevelName", "Source", "EventLog", "EventCategory",
    "UserName", "RenderedDescription", "ParameterXml", "AzureDeploymentID", "Role", "Keywords", "Opcode",
    "Correlation", "SystemProcessId", "SystemThreadId", "SystemUserId", "EventRecordId", "RawEventData", "Data",
    "EventId", "ComputerName", "_BilledSize", "_IsBillable", "RecordId",
})


def is_azure_windows(o: dict[str, Any]) -> bool:
    if o.get("Type") in TABLES and "EventID" in o:
        return True
    return ("TimeGenerated" in o and "EventID" in o and "Computer" in o
            and any(k in o for k in ("EventSourceName", "Provider", "Source"))
            and any(k in o for k in ("EventData", "EventData_dynamic", "ParameterXml")))


def xml_fields(text: str) -> dict[str, Any] | None:
    """Fields of an <EventData> (or <DataItem>-wrapped) XML text; None when it is not XML."""
    try:
        root: Element = parse_xml(text)
    except XML_ERRORS:
        return None
    fields: dict[str, Any] = {}
    positional: list[str] = []
    for el in root.iter():
        tag = local(el.tag)
        if tag == "Data":
            name = el.get("Name")
            if name is None:
                positional.append(el.text or "")
            else:
                fields.setdefault(name, el.text or "")
        elif tag == "Binary":
            fields.setdefault("Binary", el.text or "")
    if positional:
        fields["Data"] = positional if len(positional) > 1 else positional[0]
    return fields


class AzureConverter:
    def __init__(self) -> None:
        self.bad_xml = 0

    def _event_data(self, o: dict[str, Any]) -> dict[str, Any] | None:
        ed = o.get("EventData")
        if isinstance(ed, dict):
            return dict(ed)
        if isinstance(ed, str) and ed.strip():
            s = ed.strip()
            if s.startswith("{"):
                try:
                    parsed = orjson.loads(s)
                    if isinstance(parsed, dict):
                        return parsed
                except orjson.JSONDecodeError:
                    pass
            elif s.startswith("<"):
                fields = xml_fields(s)
                if fields is not None:
                    return fields
            self.bad_xml += 1
            return {"EventData": ed}
        dyn = o.get("EventData_dynamic")
        if isinstance(dyn, str):
            try:
                dyn = orjson.loads(dyn)
            except orjson.JSONDecodeError:
                return {"Data": dyn}
        if isinstance(dyn, list):
            return {"Data": dyn}
        params = o.get("ParameterXml")
        if isinstance(params, str) and params.strip().startswith("<"):
            got = xml_fields("<P>" + params + "</P>")
            if got:
                return got
        return None

    def __call__(self, o: dict[str, Any], builder: WinBatchBuilder) -> tuple[Any, ...] | None:
        eid = parse_int(o.get("EventID", o.get("EventId")))
        if eid is None:
            return None
        provider = o.get("EventSourceName") or o.get("Provider") or o.get("Source")
        channel = o.get("Channel") or o.get("EventLog")
        fields = self._event_data(o)
        if fields is None:  # SecurityEvent rows without EventData: the table's parsed columns are the fields
            fields = {k: v for k, v in o.items() if k not in ENVELOPE and v not in (None, "")}
        for name, key in (("EventRecordID", "EventRecordId"), ("ExecutionProcessID", "SystemProcessId"),
                          ("UserID", "SystemUserId")):
            if o.get(key) not in (None, ""):
                fields.setdefault(name, o[key])
        return o.get("TimeGenerated"), o.get("Computer"), channel, provider, eid, fields


class AzureWindows(Source):
    name = "azure_windows"
    product = "windows"
    description = "Windows events exported from Azure Log Analytics / Sentinel (SecurityEvent, Event, WindowsEvent)."
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        objs = first_objects(head)
        if objs:
            return sniff_objects(objs, is_azure_windows)
        text = head_text(head)[:8192].replace(" ", "")
        return '"TenantId"' in text and any(f'"Type":"{t}"' in text for t in TABLES)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        convert = AzureConverter()
        yield from read_events(ctx, convert, "Azure Windows event")
        if convert.bad_xml:
            yield IngestWarning("bad_event_data", f"{convert.bad_xml} EventData value(s) are neither XML nor JSON; "
                                                  "kept as text in data.EventData")



