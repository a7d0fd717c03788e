"""Sysmon for Linux: its `<Event>` XML, one event per syslog line (program `sysmon`).

Sysmon for Linux writes the same event schema as Windows Sysmon, so events land in the same
tables and columns (Windows field names are the Sigma aliases of those columns):

| EventID | what | table, action |
|---|---|---|
| 1 | process create | `process`, start |
| 3 | network connection | `network` |
| 5 | process terminated | `process`, end |
| 9 | raw access read | `file`, raw_access_read |
| 11 | file create | `file`, create |
| 23 | file delete (archived) | `file`, delete |
| 4, 16, 255 | service state, config change, error | `generic` |

Time is the event's `UtcTime` (when it happened), falling back to `System/TimeCreated`. EventData
fields no column takes, and the System fields (EventRecordID, Version, Level, Task, Opcode,
Keywords, ExecutionProcessID, ExecutionThreadID, SecurityUserId, ProviderGuid, SystemTime), go
to `data`. The log is attacker-written: an event holding a markup declaration (`<!DOCTYPE`,
`<!ENTITY`, ...) is parsed by defusedxml, which refuses DTDs and entity tricks; one without any
`<!` cannot declare or fetch an entity and goes to the C-accelerated ElementTree parser
(defusedxml's parser is pure Python, ~5x slower). Broken XML (Sysmon for Linux writes
`&lt unknown process&gt ` without ';'; syslog relays cut long events) is read field by field
by a tolerant, linear-time reader, with a warning.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.etree.ElementTree import fromstring as c_fromstring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from aptwatch.model.hosts import host_key
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.syslog import (
    MessageHandler,
    Row,
    SyslogLine,
    dumps,
    generic_row,
    only_lines_of,
    read_lines,
    to_int,
)

_PROC = {"ProcessGuid": "process_guid", "ProcessId": "process_id", "Image": "process_path", "User": "user"}
_HASH = {"Hashes": "hashes"}
#: EventID -> (table, action, field -> column)
MAPPING: dict[int, tuple[str, str | None, dict[str, str]]] = {
    1: ("process", "start", {**_PROC, **_HASH, "CommandLine": "command_line", "CurrentDirectory": "current_directory",
                             "IntegrityLevel": "integrity_level", "LogonId": "logon_id", "LogonGuid": "logon_guid",
                             "TerminalSessionId": "terminal_session_id", "FileVersion": "file_version",
                             "Description": "description", "Product": "product", "Company": "company",
                             "OriginalFileName": "original_file_name", "ParentProcessGuid": "parent_process_guid",
                             "ParentProcessId": "parent_process_id", "ParentImage": "parent_path",
                             "ParentCommandLine": "parent_command_line", "ParentUser": "parent_user"}),
    3: ("network", None, {**_PROC, "Protocol": "protocol", "Initiated": "initiated", "SourceIp": "src_ip",
                          "SourceHostname": "src_hostname", "SourcePort": "src_port", "DestinationIp": "dst_ip",
                          "DestinationHostname": "dst_hostname", "DestinationPort": "dst_port"}),
    5: ("process", "end", dict(_PROC)),
    9: ("file", "raw_access_read", {**_PROC, "Device": "path"}),
    11: ("file", "create", {**_PROC, "TargetFilename": "path", "CreationUtcTime": "creation_time"}),
    23: ("file", "delete", {**_PROC, **_HASH, "TargetFilename": "path"}),
    26: ("file", "delete", {**_PROC, **_HASH, "TargetFilename": "path"}),
}
#: integer columns and their width in bits
_INT_COLUMNS = {"process_id": 64, "parent_process_id": 64, "terminal_session_id": 32, "src_port": 32, "dst_port": 32}
_SYSTEM_ATTRS = (("Provider", "Guid", "ProviderGuid"), ("TimeCreated", "SystemTime", "SystemTime"),
                 ("Execution", "ProcessID", "ExecutionProcessID"), ("Execution", "ThreadID", "ExecutionThreadID"),
                 ("Security", "UserId", "SecurityUserId"))
_SYSTEM_TEXT = ("EventRecordID", "Version", "Level", "Task", "Opcode", "Keywords")


def is_sysmon_message(message: str) -> bool:
    return message.lstrip()[:6] == "<Event"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _time(text: str | None) -> datetime | None:
    """Sysmon's 'YYYY-MM-DD hh:mm:ss.fff' (UtcTime) or ISO with Z and nanoseconds (SystemTime)."""
    if not text:
        return None
    t = text.strip().replace(" ", "T", 1)
    if "." in t:  # fromisoformat takes at most 6 fractional digits
        head, _, frac = t.partition(".")
        digits = "".join(c for c in frac if c.isdigit())
        t = head + "." + digits[:6] + frac[len(digits):]
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


_T_EVENT_ID = re.compile(r"<EventID[^>]{0,64}>(\d{1,9})</EventID>")
_T_TEXT = re.compile(r"<(Channel|Computer|EventRecordID|Version|Level|Task|Opcode|Keywords)>([^<]*)</")
_T_ATTR = re.compile(r"<(Provider|TimeCreated|Execution|Security) ([^>]{0,2048})>")
_T_PAIR = re.compile(r'(?<!\w)(\w{1,64})="([^"]*)"')
_T_DATA = re.compile(r'<Data Name="([^"]*)">([^<]*)(?:</Data>|$)')


def tolerant_parse(xml: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """What can be read from broken Sysmon XML: a message cut by the syslog size limit, or
    Sysmon for Linux's own `&lt unknown process&gt ` (entities without ';'). None without an EventID."""
    m = _T_EVENT_ID.search(xml)
    if m is None:
        return None
    system = {"EventID": m.group(1)}
    for t in _T_TEXT.finditer(xml):
        system.setdefault(t.group(1), html.unescape(t.group(2)).strip())
    for a in _T_ATTR.finditer(xml):
        for p in _T_PAIR.finditer(a.group(2)):
            system.setdefault(f"{a.group(1)}.{p.group(1)}", html.unescape(p.group(2)))
    fields = {d.group(1): html.unescape(d.group(2)) for d in _T_DATA.finditer(xml)}
    return system, fields


def parse_event(xml: str) -> tuple[dict[str, str], dict[str, str]]:
    """(System fields, EventData fields) of one `<Event>`; raises ValueError on bad XML."""
    try:
        if "<!" in xml:  # a markup declaration (DOCTYPE, ENTITY, comment, CDATA): defusedxml judges it
            root: Element = fromstring(xml)
        else:
            # Without a declaration no entity can be defined, expanded or fetched, which is all
            # defusedxml guards against; its pure-Python parser is ~5x slower than the C one.
            root = c_fromstring(xml)  # noqa: S314
    except (ParseError, DefusedXmlException) as e:
        raise ValueError(str(e)) from e
    system: dict[str, str] = {}
    fields: dict[str, str] = {}
    for part in root:
        tag = _local(part.tag)
        if tag == "System":
            for el in part:
                name = _local(el.tag)
                if el.text and el.text.strip():
                    system[name] = el.text.strip()
                for attr, value in el.attrib.items():
                    system[f"{name}.{attr}"] = value
        elif tag in ("EventData", "UserData"):
            for i, el in enumerate(part.iter()):
                if el is part:
                    continue
                name = el.attrib.get("Name") or _local(el.tag) or f"Data{i}"
                fields[name] = el.text or ""
    return system, fields


def map_sysmon(system: dict[str, str], fields: dict[str, str], record: int, raw: str,
               fallback_host: str | None, fallback_time: datetime | None,
               envelope: dict[str, Any] | None = None) -> tuple[Row, list[IngestWarning]]:
    """The row for one Sysmon event (System and EventData fields as parsed)."""
    warnings: list[IngestWarning] = []
    code_text = system.get("EventID", "")
    code = int(code_text) if code_text.isdigit() else None
    table, action, mapping = MAPPING.get(code or -1, ("generic", None, {}))
    row: dict[str, Any] = {
        "record": record, "event_code": code,
        "channel": system.get("Channel"), "provider": system.get("Provider.Name"),
        "host": host_key(system.get("Computer")) or fallback_host, "raw": raw,
        "time": _time(fields.get("UtcTime")) or _time(system.get("TimeCreated.SystemTime")) or fallback_time,
    }
    if action is not None:
        row["action"] = action
    data: dict[str, Any] = {}
    for name, value in fields.items():
        col = mapping.get(name)
        if col is None:
            data[name] = value
        elif col in _INT_COLUMNS:
            n = to_int(value.strip(), _INT_COLUMNS[col])
            if n is not None:
                row[col] = n
            else:
                # Sysmon for Linux writes TerminalSessionId 4294967295 (unsigned -1): kept as logged in data
                data[name] = value
                if value.strip() not in ("-", "", "4294967295"):
                    warnings.append(IngestWarning("bad_value", f"{name}={IngestWarning.excerpt(value, 40)} is "
                                                  "not an integer of the column's range; kept in data", record))
        elif col == "initiated":
            row[col] = value.strip().lower() == "true" if value.strip().lower() in ("true", "false") else None
            if row[col] is None:
                data[name] = value
        else:
            row[col] = value
    for el, attr, name in _SYSTEM_ATTRS:
        if f"{el}.{attr}" in system:
            data[name] = system[f"{el}.{attr}"]
    for name in _SYSTEM_TEXT:
        if name in system:
            data[name] = system[name]
    path = row.get("process_path") if table == "process" else row.get("path")
    if isinstance(path, str) and table in ("process", "file"):
        row["process_name" if table == "process" else "file_name"] = path.rsplit("/", 1)[-1]
    if envelope:
        for k, v in envelope.items():
            data.setdefault(k, v)
    row["data"] = dumps(data) if data else None
    if row["time"] is None:
        warnings.append(IngestWarning("bad_time", "no readable UtcTime or SystemTime", record))
    return (table, row), warnings


class SysmonHandler(MessageHandler):
    """Sysmon `<Event>` XML in a syslog line (or bare)."""

    def accepts(self, line: SyslogLine) -> bool:
        return is_sysmon_message(line.message)

    def handle(self, line: SyslogLine, record: int, raw: str) -> Iterable[Row | IngestWarning]:
        return self.add(line.message, record, raw, line.host, line.time)

    def add(self, xml: str, record: int, raw: str, host: str | None, time: datetime | None,
            envelope: dict[str, Any] | None = None) -> Iterator[Row | IngestWarning]:
        xml = xml.strip()
        try:
            system, fields = parse_event(xml)
        except ValueError as e:
            recovered = tolerant_parse(xml)
            cut = not xml.endswith("</Event>")
            if recovered is None:
                yield IngestWarning("bad_xml", f"{e}: {IngestWarning.excerpt(xml)}", record)
                yield generic_row(SyslogLine(xml, True, time=time, hostname=host), record, raw, envelope)
                return
            system, fields = recovered
            yield IngestWarning("truncated_xml" if cut else "bad_xml",
                                f"{'event cut at ' + str(len(xml)) + ' characters' if cut else e}; "
                                f"{len(fields)} field(s) recovered by the tolerant reader", record)
        row, warnings = map_sysmon(system, fields, record, raw, host, time, envelope)
        yield from warnings
        yield row


class SysmonLinux(Source):
    name = "sysmon_linux"
    description = "Sysmon for Linux events (XML in syslog lines) -> process, network, file, generic."
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        return only_lines_of(head, lambda text: "<Event" in text and "Linux-Sysmon" in text)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        yield from read_lines(ctx, [SysmonHandler()])
