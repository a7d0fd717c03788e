"""Sysmon for Linux: its `<Event>` XML, one event per syslog line (program `sysmon`).

Sysmon for Linux writes the same event schema as Windows Sysmon, so its events go through the
same mapping (`sources/windows/mapping.py: SYSMON`) and the same builder as Windows Sysmon
events (`sources/windows/builder.py`): same tables, columns, actions, derived columns (process
and file names, hashes, GUID spelling) and `data` conventions. Linux Sysmon writes EventIDs 1
(process start), 3 (network), 4 (service state), 5 (process end), 9 (raw access read), 11 (file
create), 16 (configuration), 23 (file delete) and 255 (error): 1/5 -> `process`, 3 ->
`network`, 9/11/23 -> `file`, 4/16 -> `logging`, the rest -> `generic`.

As for Windows events, time is `System/TimeCreated/@SystemTime` (`UtcTime` stays in `data`),
`host` the host key of `Computer`, and EventRecordID, Execution ProcessID and Security UserId go
to `data` as EventRecordID, ExecutionProcessID and UserID.

The log is attacker-written: an event holding a markup declaration (`<!DOCTYPE`, `<!ENTITY`,
...) is parsed by defusedxml, which refuses DTDs and entity tricks; one without any `<!` cannot
declare or fetch an entity and goes to the C-accelerated ElementTree parser (defusedxml's parser
is pure Python, ~5x slower). Broken XML (Sysmon for Linux writes `&lt unknown process&gt `
without ';'; syslog relays cut long events) is read field by field by a tolerant, linear-time
reader, with a warning.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.etree.ElementTree import fromstring as c_fromstring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import IngestSettings, ReadContext, Source
from aptwatch.sources.syslog import Item, MessageHandler, SyslogLine, generic_row, only_lines_of, read_lines
from aptwatch.sources.windows.builder import WinBatchBuilder
from aptwatch.sources.windows.mapping import SYSMON, EventMap

PROVIDER = "Linux-Sysmon"
CHANNEL = "Linux-Sysmon/Operational"
#: System attributes kept in `data`, under the names the Windows sources use (builder.SYSTEM_EXTRAS)
_SYSTEM_EXTRAS = (("Execution", "ProcessID", "ExecutionProcessID"), ("Security", "UserId", "UserID"),
                  ("Security", "UserID", "UserID"), ("Correlation", "ActivityID", "ActivityID"))


def is_sysmon_message(message: str) -> bool:
    return message.lstrip()[:6] == "<Event"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_T_EVENT_ID = re.compile(r"<EventID[^>]{0,64}>(\d{1,9})</EventID>")
_T_TEXT = re.compile(r"<(Channel|Computer|EventRecordID|Version|Level|Task|Opcode|Keywords)>([^<]*)</")
_T_ATTR = re.compile(r"<(Provider|TimeCreated|Execution|Security|Correlation) ([^>]{0,2048})>")
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
        tag = part.tag if part.tag[:1] != "{" else _local(part.tag)
        if tag == "System":
            for el in part:
                name = el.tag if el.tag[:1] != "{" else _local(el.tag)
                text = el.text
                if text and (text := text.strip()):
                    system[name] = text
                if el.attrib:
                    for attr, value in el.attrib.items():
                        system[f"{name}.{attr}"] = value
        elif tag == "EventData" and all(len(el) == 0 for el in part):  # flat <Data Name=..> items
            for i, el in enumerate(part):
                fields[el.get("Name") or (el.tag if el.tag[:1] != "{" else _local(el.tag)) or f"Data{i}"] = \
                    el.text or ""
        elif tag in ("EventData", "UserData"):
            for i, el in enumerate(part.iter()):
                if el is part:
                    continue
                name = el.attrib.get("Name") or _local(el.tag) or f"Data{i}"
                fields[name] = el.text or ""
    return system, fields


class LinuxSysmonBuilder(WinBatchBuilder):
    """The Windows event builder, with Sysmon for Linux's provider mapped by the Windows Sysmon table."""

    def mapping_for(self, provider: Any, channel: Any, event_id: Any) -> EventMap | None:
        if isinstance(event_id, int) and (provider == PROVIDER or channel == CHANNEL):
            return SYSMON.get(event_id)
        return super().mapping_for(provider, channel, event_id)


class SysmonHandler(MessageHandler):
    """Sysmon `<Event>` XML in a syslog line (or bare); rows built by the shared Windows builder."""

    markers = ("<Event",)

    def __init__(self, settings: IngestSettings | None = None) -> None:
        s = settings or IngestSettings()
        self.builder = LinuxSysmonBuilder(s.local_timezone, s.batch_rows)

    def accepts(self, line: SyslogLine) -> bool:
        return is_sysmon_message(line.message)

    def handle(self, line: SyslogLine, record: int, raw: str) -> Iterable[Item]:
        return self.add(line.message, record, raw, line.hostname, line.time)

    def add(self, xml: str, record: int, raw: str, hostname: str | None, time: datetime | None,
            envelope: dict[str, Any] | None = None) -> Iterator[Item]:
        """One event; `hostname` and `time` (of the syslog line) stand in when the event lacks its own."""
        xml = xml.strip()
        try:
            system, fields = parse_event(xml)
        except ValueError as e:
            recovered = tolerant_parse(xml)
            cut = not xml.endswith("</Event>")
            if recovered is None:
                yield IngestWarning("bad_xml", f"{e}: {IngestWarning.excerpt(xml)}", record)
                yield generic_row(SyslogLine(xml, True, time=time, hostname=hostname), record, raw, envelope)
                return
            system, fields = recovered
            yield IngestWarning("truncated_xml" if cut else "bad_xml",
                                f"{'event cut at ' + str(len(xml)) + ' characters' if cut else e}; "
                                f"{len(fields)} field(s) recovered by the tolerant reader", record)
        for el, attr, name in _SYSTEM_EXTRAS:
            value = system.get(f"{el}.{attr}")
            if value is not None:
                fields.setdefault(name, value)
        if "EventRecordID" in system:
            fields.setdefault("EventRecordID", system["EventRecordID"])
        if envelope:
            for k, v in envelope.items():
                fields.setdefault(k, v)
        code = system.get("EventID", "")
        stamp = system.get("TimeCreated.SystemTime") or fields.get("UtcTime") or (time.isoformat() if time else None)
        self.builder.add(record, stamp, system.get("Computer") or hostname, system.get("Channel"),
                         system.get("Provider.Name"), int(code) if code.isdigit() else None, fields, raw)
        if self.builder.full:
            yield from self.builder.flush()

    def finish(self) -> Iterable[Item]:
        return self.builder.flush()


class SysmonLinux(Source):
    name = "sysmon_linux"
    product = "linux"
    description = "Sysmon for Linux events (XML in syslog lines) -> process, network, file, logging, generic."
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        return only_lines_of(head, lambda text: "<Event" in text and "Linux-Sysmon" in text)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        yield from read_lines(ctx, [SysmonHandler(ctx.settings)])
