"""The fast decoder of the evtx package's JSON rendering, for the common shape of an event.

`evtxjson.split_fast` / `split_event` (orjson, then plain dict walking) are the reference: they
read any shape. Most events have one shape, `{"Event": {"#attributes", "System", "EventData":
{flat scalar fields}}}`, and for those this module gets the same canonical pieces about twice
as fast: msgspec decodes the record into typed structs that name only the System values
aptwatch keeps, so the other System elements (Version, Level, Task, Keywords, Guid, ThreadID,
xmlns ...) are validated and skipped without creating Python objects.

The types are strict on purpose. A record whose shape or values are outside them (UserData,
unnamed <Data> items, floats, nested values, integers below int64, a System element of an
unusual type) raises in the decoder and the caller takes the reference path, so both paths give
the same row for every record (tests/sources/test_windows_fastpath.py compares them on every
record of evtx-attack-samples; tests/sources/test_windows_golden.py pins every stored value).

Differences that do not change any stored value: the System extras are put into `fields` as the
text `data` shows them (EventRecordID 12 -> "12"); the builder renders integers that way anyway,
and no mapping takes a System extra into a column (a test checks).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from aptwatch.sources.windows.evtxjson import braced

#: integers. orjson reads integers in [-2**63, 2**64) as int and others as float, msgspec reads every
#: integer as int: below -2**63 is refused here (the reference path reads it). Above 2**64 - 1 cannot be
#: bounded (msgspec takes int64 bounds only), and need not be: this decoder only reads the evtx package's
#: rendering, whose numbers come from EVTX value types of at most 64 bits (UInt64 max,
#: 18446744073709551615, is common in BITS events), however the file's bytes are crafted.
Int = Annotated[int, msgspec.Meta(ge=-(2**63))]
#: EventData values read here: text, integers, booleans, null, and lists of those
Scalar = str | Int | bool | None
Value = Scalar | list[Scalar]


class _Skip(msgspec.Struct):
    """Any JSON object, validated and skipped (Event's xmlns attributes)."""


class _NameAttrs(msgspec.Struct):
    Name: str | None


class _Provider(msgspec.Struct):
    attrs: _NameAttrs = msgspec.field(name="#attributes")


class _TimeAttrs(msgspec.Struct):
    SystemTime: str | None


class _TimeCreated(msgspec.Struct):
    attrs: _TimeAttrs = msgspec.field(name="#attributes")


class _ExecutionAttrs(msgspec.Struct):
    ProcessID: Int


class _Execution(msgspec.Struct):
    attrs: _ExecutionAttrs = msgspec.field(name="#attributes")


class _SecurityAttrs(msgspec.Struct):
    UserID: str


class _Security(msgspec.Struct):
    attrs: _SecurityAttrs = msgspec.field(name="#attributes")


class _CorrelationAttrs(msgspec.Struct):
    ActivityID: str | None = None


class _Correlation(msgspec.Struct):
    attrs: _CorrelationAttrs = msgspec.field(name="#attributes")


class _EventIdText(msgspec.Struct):
    """<EventID Qualifiers="16384">7036</EventID> (System and Application logs)."""

    text: Int = msgspec.field(name="#text")


_UNSET = msgspec.UNSET


class _System(msgspec.Struct):
    """The System values aptwatch keeps. `split_fast` requires every one of them; when one is absent
    (UNSET) the reference reads the event with the general functions."""

    Provider: _Provider
    EventID: Int | _EventIdText
    TimeCreated: _TimeCreated
    EventRecordID: Int | msgspec.UnsetType | None = _UNSET
    Channel: str | msgspec.UnsetType | None = _UNSET
    Computer: str | msgspec.UnsetType | None = _UNSET
    Execution: _Execution | msgspec.UnsetType | None = _UNSET
    Security: _Security | msgspec.UnsetType | None = _UNSET
    Correlation: _Correlation | msgspec.UnsetType | None = _UNSET


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly xmlns attributes, System and EventData (UserData & co. take the reference path)."""

    attrs: _Skip = msgspec.field(name="#attributes")
    System: _System
    EventData: dict[str, Value] | None


class _Record(msgspec.Struct, forbid_unknown_fields=True):
    Event: _Event


#: (time, computer, channel, provider, event_id, fields), as `evtxjson.split_fast` returns
Canonical = tuple[Any, Any, Any, Any, int | None, dict[str, Any]]

_decode = msgspec.json.Decoder(_Record).decode
DecodeError = msgspec.DecodeError  # ValidationError is a subclass


def split_record(raw: str) -> Canonical | None:
    """The canonical pieces of one record, or None when it needs the reference path.

    Raises nothing for any input: a record the strict types refuse is None.
    """
    try:
        ev = _decode(raw).Event
    except DecodeError:
        return None
    s = ev.System
    fields: dict[str, Any] | None = ev.EventData
    eid = s.EventID
    if fields is None:
        fields = {}
        plain = False
    elif "Data" in fields or "#attributes" in fields:  # unnamed <Data> items, EventData attributes
        return None
    else:
        plain = eid.__class__ is int
    if eid.__class__ is not int:
        eid = eid.text  # type: ignore[union-attr]
    rid, channel, computer, ex, sec, cor = (s.EventRecordID, s.Channel, s.Computer, s.Execution, s.Security,
                                            s.Correlation)
    # `split_fast` adds the System extras in this order, each System element required, and falls back
    # to the general functions at the first absent one, keeping what it added (EventRecordID even when
    # null): mirrored here so both paths store the same `data`.
    if plain and rid is not _UNSET:
        if "EventRecordID" not in fields:
            fields["EventRecordID"] = None if rid is None else str(rid)
        for element, name in ((ex, "ExecutionProcessID"), (sec, "UserID"), (cor, "ActivityID")):
            if element is _UNSET:
                break
            if element is not None and name not in fields:
                value = _extra(element)
                if value is not None:
                    fields[name] = value
    # the general functions (`system_extras`): each extra that is set, unless a field has its name
    if rid is not _UNSET and rid is not None and "EventRecordID" not in fields:
        fields["EventRecordID"] = str(rid)
    for element, name in ((ex, "ExecutionProcessID"), (sec, "UserID"), (cor, "ActivityID")):
        if element is not _UNSET and element is not None and name not in fields:
            value = _extra(element)
            if value is not None:
                fields[name] = value
    return (s.TimeCreated.attrs.SystemTime, None if computer is _UNSET else computer,
            None if channel is _UNSET else channel, s.Provider.attrs.Name, eid, fields)


def _extra(element: Any) -> str | None:
    """The System extra an Execution / Security / Correlation element carries, as `system_extras` spells it."""
    attrs = element.attrs
    if attrs.__class__ is _ExecutionAttrs:
        return str(attrs.ProcessID)
    if attrs.__class__ is _SecurityAttrs:
        return attrs.UserID
    activity = attrs.ActivityID
    return None if activity is None else braced(activity)
