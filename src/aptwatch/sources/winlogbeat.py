"""Windows events shipped by Elastic winlogbeat (and Elastic Agent's Windows integration).

Recognised shapes:
- winlogbeat 7+/8 (ECS): the original event under `winlog.*` (`channel`, `provider_name`,
  `event_id`, `computer_name`, `record_id`, `event_data`, `user_data`, `process.pid`,
  `user.identifier`, `activity_id`); the time is `@timestamp`. ECS copies (`process.*`,
  `user.*`) are derived from winlog and are not read twice;
- winlogbeat 6 (`event_data`, `log_name`, `source_name`, `computer_name`, `record_number`).
winlogbeat renders every EventData value as text and the positional <Data> of classic
events as param1..paramN; the mapping handles both, so rows equal those of the .evtx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.windows.builder import WinBatchBuilder, parse_int
from aptwatch.sources.windows.evtxjson import braced, flatten_into
from aptwatch.sources.windows.jsonread import first_objects, head_text
from aptwatch.sources.windows.reader import Canonical, read_events, sniff_objects


def _is_winlogbeat(o: dict[str, Any]) -> bool:
    w = o.get("winlog")
    if isinstance(w, dict):
        return any(k in w for k in ("event_id", "channel", "provider_name"))
    meta = o.get("@metadata")
    beat = o.get("beat")
    from_beat = (isinstance(meta, dict) and meta.get("beat") == "winlogbeat") or isinstance(beat, dict)
    return from_beat and "event_id" in o and ("log_name" in o or "source_name" in o)


def _fields(event_data: Any, user_data: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(event_data) if isinstance(event_data, dict) else {}
    if isinstance(user_data, dict):
        ud = {k: v for k, v in user_data.items() if k != "xml_name"}  # the element name, not a field
        flatten_into(fields, ud, "")
    return fields


def _extras(fields: dict[str, Any], record_id: Any, pid: Any, user_sid: Any, activity: Any) -> None:
    for name, value in (("EventRecordID", record_id), ("ExecutionProcessID", pid), ("UserID", user_sid),
                        ("ActivityID", braced(activity))):
        if value is not None:
            fields.setdefault(name, value)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def convert(obj: dict[str, Any], builder: WinBatchBuilder) -> Canonical | None:
    w = obj.get("winlog")
    if isinstance(w, dict):
        fields = _fields(w.get("event_data"), w.get("user_data"))
        proc = _obj(w.get("process"))
        user = _obj(w.get("user"))
        _extras(fields, w.get("record_id"), proc.get("pid"), user.get("identifier"), w.get("activity_id"))
        host = _obj(obj.get("host"))
        event = _obj(obj.get("event"))
        eid = parse_int(w.get("event_id") if w.get("event_id") is not None else event.get("code"))
        return (obj.get("@timestamp"), w.get("computer_name") or host.get("name"), w.get("channel"),
                w.get("provider_name") or event.get("provider"), eid, fields)
    if not _is_winlogbeat(obj):
        return None
    fields = _fields(obj.get("event_data"), obj.get("user_data"))
    user = _obj(obj.get("user"))
    _extras(fields, obj.get("record_number"), obj.get("process_id"), user.get("identifier"), obj.get("activity_id"))
    return (obj.get("@timestamp"), obj.get("computer_name"), obj.get("log_name"), obj.get("source_name"),
            parse_int(obj.get("event_id")), fields)


class Winlogbeat(Source):
    name = "winlogbeat"
    product = "windows"
    description = "Windows events from Elastic winlogbeat / Elastic Agent (ECS `winlog.*`, or winlogbeat 6)."
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        objs = first_objects(head)
        if objs:
            return sniff_objects(objs, _is_winlogbeat)
        text = head_text(head)[:8192]
        return '"winlog":{' in text.replace(" ", "") and '"event_id"' in text

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        return read_events(ctx, convert, "winlogbeat")
