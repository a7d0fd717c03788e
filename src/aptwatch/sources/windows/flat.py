"""Flat Windows JSON: NXLog `im_msvistalog` `to_json()` and the OTRF Security-Datasets shape.

Both put the event's EventData fields at the top level next to envelope fields (NXLog's
EventTime, Hostname, SourceName, Severity, Message ...; Logstash's @timestamp, @version,
tags, host, port; OTRF's TimeCreated, ProviderGuid). The envelope is not an event field: it
stays in `raw` only, except the System values every source keeps (SYSTEM_EXTRAS). An
envelope name that an event also uses as a field (7045's AccountName, NXLog's Domain) is
still read when the mapping of that event asks for it.

Time: `@timestamp` (UTC, added by Logstash / the exporter) when present, else TimeCreated,
else NXLog's EventTime; a time without offset is local time of the collector: Sysmon's
UtcTime is used instead when the event has one, else the configured local time zone (and a
`naive_time` warning says so).
"""

from __future__ import annotations

from typing import Any

from aptwatch.sources.windows.builder import WinBatchBuilder, parse_int
from aptwatch.sources.windows.evtxjson import braced, flatten_into
from aptwatch.sources.windows.mapping import EventMap

#: envelope keys of NXLog im_msvistalog / Logstash / OTRF exports (not event fields)
ENVELOPE = frozenset({
    "EventTime", "EventReceivedTime", "SourceModuleName", "SourceModuleType", "Hostname", "Keywords", "EventType",
    "SeverityValue", "Severity", "EventID", "SourceName", "ProviderGuid", "Version", "Task", "OpcodeValue", "Opcode",
    "RecordNumber", "ActivityID", "RelatedActivityID", "ExecutionProcessID", "ThreadID", "Channel", "Domain",
    "AccountName", "UserID", "AccountType", "Category", "Message", "Level", "TimeCreated", "MessageSourceAddress",
    "ERROR_EVT_UNRESOLVED", "@timestamp", "@version", "host", "port", "tags", "type", "beat", "log", "agent", "ecs",
    "input", "fields", "source", "offset", "prospector", "Qualifiers",
})
_TIME_KEYS = ("@timestamp", "TimeCreated", "EventTime")


def message_pairs(message: str, labels: dict[str, str]) -> dict[str, str]:
    """`label: value` / `label = value` pairs of a rendered message (lines or ';'-separated), for the
    labels asked for, under their field names."""
    out: dict[str, str] = {}
    for line in message.replace("\r", "").split("\n"):
        for part in line.split("; "):
            for sep in (" = ", ": "):
                label, found, value = part.partition(sep)
                if found and label.strip() in labels:
                    out.setdefault(labels[label.strip()], value.strip())
                    break
    return out


def has_offset(t: str) -> bool:
    """True when an ISO time names its zone (Z or +hh:mm / -hh:mm)."""
    s = t.strip()
    return s.endswith(("Z", "z", " UTC")) or (len(s) > 6 and s[-6] in "+-" and s[-3] == ":")


class FlatConverter:
    """Converter for flat Windows JSON records (one per source read: caches per EventMap)."""

    def __init__(self) -> None:
        self._wanted: dict[int, tuple[str, ...]] = {}
        self.naive_times = 0

    def _envelope_fields(self, em: EventMap | None) -> tuple[str, ...]:
        if em is None:
            return ()
        key = id(em)
        got = self._wanted.get(key)
        if got is None:
            got = tuple(f for f in em.fields.values() if f in ENVELOPE)
            if em.special == "ps_classic":
                got += ("Message",)  # NXLog drops the positional <Data>: the message holds the details
            self._wanted[key] = got
        return got

    @staticmethod
    def _from_message(em: EventMap | None, obj: dict[str, Any], fields: dict[str, Any]) -> None:
        """Fields of events whose UserData the export dropped, read back from the English message."""
        if em is None or not em.message or any(f in fields for _label, f in em.message):
            return
        message = obj.get("Message")
        if isinstance(message, str):
            for label, value in message_pairs(message, dict(em.message)).items():
                fields.setdefault(label, value)

    def __call__(self, obj: dict[str, Any], builder: WinBatchBuilder) -> tuple[Any, ...] | None:
        eid = parse_int(obj.get("EventID"))
        channel = obj.get("Channel")
        provider = obj.get("SourceName")
        if eid is None or not (channel or provider):
            return None
        fields = {k: v for k, v in obj.items() if k not in ENVELOPE}
        em = builder.mapping_for(provider, channel, eid)
        for k in self._envelope_fields(em):
            if k in obj:
                fields.setdefault(k, obj[k])
        if "ExecutionProcessID" not in obj and "ThreadID" in obj and "ProcessID" in fields:
            # NXLog before 4.x wrote the System Execution ProcessID as "ProcessID" (next to ThreadID)
            fields["ExecutionProcessID"] = fields.pop("ProcessID")
        self._from_message(em, obj, fields)
        ud = fields.pop("UserData", None)  # some OTRF exports keep UserData as an object
        if isinstance(ud, dict):
            flatten_into(fields, ud if len(ud) != 1 else next(iter(ud.values())), "")
        elif ud is not None:
            fields["UserData"] = ud
        for name, key in (("EventRecordID", "RecordNumber"), ("ExecutionProcessID", "ExecutionProcessID"),
                          ("UserID", "UserID")):
            if obj.get(key) is not None:
                fields.setdefault(name, obj[key])
        if obj.get("ActivityID") is not None:
            fields.setdefault("ActivityID", braced(str(obj["ActivityID"]).strip("{}")))
        time = next((obj[k] for k in _TIME_KEYS if isinstance(obj.get(k), str)), None)
        if isinstance(time, str) and not has_offset(time):
            utc = fields.get("UtcTime")
            if isinstance(utc, str) and utc[:1].isdigit():
                time = utc + "Z"  # Sysmon's UtcTime is UTC by definition
            else:
                self.naive_times += 1
        return time, obj.get("Hostname"), channel, provider, eid, fields
