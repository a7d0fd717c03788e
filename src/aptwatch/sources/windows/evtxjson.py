"""The evtx package's JSON rendering of an event -> the canonical pieces the builder takes.

pyevtx-rs (and evtx_dump, Chainsaw, the SigmaHQ regression data) render an event as
`{"Event": {"System": {...}, "EventData": {...} | "UserData": {...}}}` with XML attributes
under "#attributes" and element text under "#text". This module flattens that shape; the
EVTX, evtx-JSON and (through the same helpers) XML sources share it.
"""

from __future__ import annotations

from typing import Any

from aptwatch.sources.windows.builder import parse_int

#: keys of the evtx rendering that are structure, not fields
_ATTRS = "#attributes"
_TEXT = "#text"


def flatten_into(out: dict[str, Any], node: Any, prefix: str) -> None:
    """Flatten an XML-ish dict (UserData, ProcessingErrorData) into `out` with dotted keys.

    Element attributes other than xmlns become `<prefix><attr>`; element text `#text` becomes the
    element's own key. The first existing key wins (a field is never overwritten).
    """
    if not isinstance(node, dict):
        if prefix:
            out.setdefault(prefix[:-1], node)
        return
    for key, value in node.items():
        if key == _ATTRS:
            if isinstance(value, dict):
                for ak, av in value.items():
                    if not ak.startswith("xmlns"):
                        out.setdefault(prefix + ak, av)
        elif key == _TEXT:
            if prefix:
                out.setdefault(prefix[:-1], value)
        elif isinstance(value, dict):
            flatten_into(out, value, prefix + key + ".")
        else:
            out.setdefault(prefix + key, value)


def event_fields(event: dict[str, Any]) -> dict[str, Any]:
    """Flat fields of an evtx-rendered `Event` (EventData, UserData, ProcessingErrorData)."""
    ed = event.get("EventData")
    if isinstance(ed, dict):
        fields = ed
        if _ATTRS in ed:  # <EventData Name="TaskDisabled"> and similar
            attrs = ed.pop(_ATTRS)
            if isinstance(attrs, dict):
                for ak, av in attrs.items():
                    if not ak.startswith("xmlns"):
                        fields.setdefault("EventData." + ak, av)
        data = ed.get("Data")
        if isinstance(data, dict) and _TEXT in data:  # unnamed <Data> items
            ed["Data"] = data[_TEXT]
        elif isinstance(data, dict):
            flatten_into(fields, ed.pop("Data"), "Data.")
    elif ed is not None:
        fields = {"EventData": ed}
    else:
        fields = {}
    ud = event.get("UserData")
    if ud is not None:
        if isinstance(ud, dict) and len(ud) == 1:  # <UserData><LogFileCleared ...>fields</...>
            (only,) = ud.values()
            flatten_into(fields, only, "")
        else:
            flatten_into(fields, ud, "")
    ped = event.get("ProcessingErrorData")
    if ped is not None:
        flatten_into(fields, ped, "")
    return fields


def system_extras(system: dict[str, Any], fields: dict[str, Any]) -> None:
    """Add the SYSTEM_EXTRAS values of an evtx-rendered System block to `fields` (fields win)."""
    rid = system.get("EventRecordID")
    if rid is not None:
        fields.setdefault("EventRecordID", rid)
    for element, attr, name in _EXTRA_ATTRS:
        value = _attr(system.get(element), attr)
        if value is not None:
            fields.setdefault(name, braced(value) if name == "ActivityID" else value)


_EXTRA_ATTRS = (("Execution", "ProcessID", "ExecutionProcessID"), ("Security", "UserID", "UserID"),
                ("Correlation", "ActivityID", "ActivityID"))


def braced(value: Any) -> Any:
    """System ActivityID as Windows renders it: '{UPPER-CASE}' (evtx drops the braces)."""
    if isinstance(value, str) and len(value) == 36:
        return "{" + value.upper() + "}"
    return value


def split_fast(ev: dict[str, Any]) -> tuple[Any, Any, Any, Any, int | None, dict[str, Any]]:
    """`split_event` for the common shape (plain EventData, standard System), ~3x faster;
    anything unusual falls back to the general functions."""
    try:
        system = ev["System"]
        ed = ev["EventData"]
        if ed.__class__ is not dict or "#attributes" in ed or "Data" in ed or len(ev) != 3:
            raise KeyError
        provider = system["Provider"]["#attributes"]["Name"]
        time = system["TimeCreated"]["#attributes"]["SystemTime"]
        eid = system["EventID"]
        if eid.__class__ is not int:
            raise KeyError
        fields: dict[str, Any] = ed
        rid = system["EventRecordID"]
        if "EventRecordID" not in fields:
            fields["EventRecordID"] = rid
        ex = system["Execution"]
        if ex is not None and "ExecutionProcessID" not in fields:
            fields["ExecutionProcessID"] = ex["#attributes"]["ProcessID"]
        sec = system["Security"]
        if sec is not None and "UserID" not in fields:
            fields["UserID"] = sec["#attributes"]["UserID"]
        cor = system["Correlation"]
        if cor is not None and "ActivityID" not in fields:
            activity = cor["#attributes"].get("ActivityID")
            if activity is not None:
                fields["ActivityID"] = braced(activity)
        return time, system["Computer"], system["Channel"], provider, eid, fields
    except (KeyError, TypeError, AttributeError):
        pass
    system = ev.get("System")
    if not isinstance(system, dict):
        system = {}
    fields = event_fields(ev)
    system_extras(system, fields)
    return (*system_core(system), fields)


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        attrs = node.get(_ATTRS)
        if isinstance(attrs, dict):
            return attrs.get(name)
    return None


def system_core(system: dict[str, Any]) -> tuple[Any, Any, Any, Any, int | None]:
    """(time, computer, channel, provider, event_id) of an evtx-rendered System block."""
    eid = system.get("EventID")
    if isinstance(eid, dict):
        eid = eid.get(_TEXT)
    if not isinstance(eid, int) or isinstance(eid, bool):
        eid = parse_int(eid)
    return (_attr(system.get("TimeCreated"), "SystemTime"), system.get("Computer"), system.get("Channel"),
            _attr(system.get("Provider"), "Name"), eid)


def split_event(doc: Any) -> tuple[Any, Any, Any, Any, int | None, dict[str, Any]] | None:
    """(time, computer, channel, provider, event_id, fields) of `{"Event": {...}}`, or None."""
    ev = doc.get("Event") if isinstance(doc, dict) else None
    if not isinstance(ev, dict):
        return None
    system = ev.get("System")
    if not isinstance(system, dict):
        system = {}
    fields = event_fields(ev)
    system_extras(system, fields)
    return (*system_core(system), fields)
