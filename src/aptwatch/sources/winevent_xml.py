"""Windows events rendered as XML: `wevtutil qe ... /f:xml`, `Get-WinEvent | % ToXml()`, Event
Viewer's "Save as XML" (`<Events>` root, UTF-16), forwarded events, evtx_dump -o xml.

The text is cut into <Event>...</Event> elements by a linear scan and each element is parsed
on its own with defusedxml (logs are written by the attacker: no DTDs, no entities), so a
broken element costs only itself and memory is bounded by the largest event. `record` is the
element's position in the file (1-based), `raw` its text. EventData <Data Name=...> become
fields; unnamed <Data> a `Data` list; UserData is flattened; RenderingInfo (the localized
message of forwarded events) is rendering, kept in `raw` only.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import IO, Any
from xml.etree.ElementTree import Element

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.windows.builder import WinBatchBuilder, parse_int
from aptwatch.sources.windows.evtxjson import braced
from aptwatch.sources.windows.jsonread import encoding_of, head_text
from aptwatch.sources.windows.xmlutil import XML_ERRORS, local, parse_xml

#: an <Event> start tag (not <EventData>, <EventID> ...); simple pattern, linear
_START = re.compile(r"<Event[\s>]")
_END = "</Event>"
MAX_EVENT_CHARS = 64 << 20


def _text(el: Element) -> str:
    """Element text; a newline plus indentation alone is a pretty-printer's (evtx_dump writes empty
    elements so), not a value."""
    t = el.text
    if not t:
        return ""
    if t[0] == "\n" and not t.strip(" \n"):
        return ""
    return t


def _flatten(el: Element, prefix: str, out: dict[str, Any]) -> None:
    for k, v in el.attrib.items():
        if not local(k).startswith("xmlns"):
            out.setdefault(prefix + local(k), v)
    children = list(el)
    if not children:
        if prefix:
            out.setdefault(prefix[:-1], _text(el))
        return
    for child in children:
        _flatten(child, prefix + local(child.tag) + ".", out)


def event_from_xml(root: Element) -> tuple[Any, Any, Any, Any, int | None, dict[str, Any]]:
    """(time, computer, channel, provider, event_id, fields) of an <Event> element."""
    system: dict[str, Element] = {}
    fields: dict[str, Any] = {}
    for part in root:
        tag = local(part.tag)
        if tag == "System":
            system = {local(c.tag): c for c in part}
        elif tag == "EventData":
            positional: list[str] = []
            for k, v in part.attrib.items():
                if not local(k).startswith("xmlns"):
                    fields.setdefault("EventData." + local(k), v)
            for d in part:
                dt = local(d.tag)
                name = d.get("Name")
                if dt == "Data" and name is None:
                    positional.append(_text(d))
                elif dt == "Data":
                    fields.setdefault(name, _text(d))  # type: ignore[arg-type]
                elif len(d):
                    _flatten(d, dt + ".", fields)
                else:
                    fields.setdefault(dt, _text(d))
            if positional:
                fields.setdefault("Data", positional if len(positional) > 1 else positional[0])
        elif tag == "UserData":
            children = list(part)
            for child in children:
                # <UserData><LogFileCleared ...>fields</LogFileCleared></UserData>: the wrapper is not a field
                _flatten(child, "" if len(children) == 1 else local(child.tag) + ".", fields)
        elif tag == "ProcessingErrorData":
            _flatten(part, "", fields)

    def attr(name: str, key: str) -> str | None:
        el = system.get(name)
        return None if el is None else el.get(key)

    def txt(name: str) -> str | None:
        el = system.get(name)
        return None if el is None else _text(el)

    for name, value in (("EventRecordID", parse_int(txt("EventRecordID"))),
                        ("ExecutionProcessID", parse_int(attr("Execution", "ProcessID"))),
                        ("UserID", attr("Security", "UserID")),
                        ("ActivityID", braced((attr("Correlation", "ActivityID") or "").strip("{}")) or None)):
        if value is not None:
            fields.setdefault(name, value)
    return (attr("TimeCreated", "SystemTime"), txt("Computer"), txt("Channel"), attr("Provider", "Name"),
            parse_int(txt("EventID")), fields)


def iter_events(stream: IO[bytes]) -> Iterator[tuple[int, str] | IngestWarning]:
    """(position, text) of every <Event> element, and warnings for cut or unterminated ones."""
    head = stream.read(64 * 1024)
    enc = encoding_of(head)
    decoder = codecs.getincrementaldecoder(enc)(errors="replace")
    buf = decoder.decode(head).lstrip("\ufeff")
    eof = not head
    index = 0
    pos = 0
    while True:
        m = _START.search(buf, pos)
        if m is None:
            if eof:
                return
            keep = max(pos, len(buf) - 8)  # a start tag may straddle two blocks
            block = stream.read(1 << 22)
            eof = not block
            buf = buf[keep:] + decoder.decode(block, final=eof)
            pos = 0
            continue
        start = m.start()
        end = buf.find(_END, start)
        nxt = _START.search(buf, m.end())
        if end >= 0 and (nxt is None or end < nxt.start()):
            index += 1
            yield index, buf[start : end + len(_END)]
            pos = end + len(_END)
            if pos > (4 << 20):
                buf, pos = buf[pos:], 0
            continue
        if nxt is not None:  # another event starts before this one ends: it is broken
            index += 1
            yield IngestWarning("bad_xml", "event without </Event>: " + IngestWarning.excerpt(buf[start:nxt.start()]),
                                index)
            pos = nxt.start()
            continue
        if eof or len(buf) - start > MAX_EVENT_CHARS:
            index += 1
            yield IngestWarning("truncated", "the last event is cut short: " + IngestWarning.excerpt(buf[start:]),
                                index)
            return
        block = stream.read(1 << 22)
        eof = not block
        buf = buf[start:] + decoder.decode(block, final=eof)
        pos = 0


class WinEventXml(Source):
    name = "winevent_xml"
    product = "windows"
    description = "Windows events rendered as XML (wevtutil, Get-WinEvent ToXml, Event Viewer export, evtx_dump)."
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        text = head_text(head)
        s = text.lstrip()
        if not s.startswith("<"):
            return False
        m = _START.search(text)
        return m is not None and "<System" in text[m.start():] and "schemas.microsoft.com/win/2004/08/events" in text

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        builder = WinBatchBuilder(ctx.settings.local_timezone, ctx.settings.batch_rows)
        with ctx.open() as stream:
            for item in iter_events(stream):
                if isinstance(item, IngestWarning):
                    yield item
                    continue
                record, raw = item
                try:
                    root = parse_xml(raw)
                except XML_ERRORS as e:
                    yield IngestWarning("bad_xml", f"{type(e).__name__}: {e}; kept in generic: "
                                        + IngestWarning.excerpt(raw), record)
                    builder.add(record, None, None, None, None, None, {}, raw)
                    continue
                time, computer, channel, provider, eid, fields = event_from_xml(root)
                builder.add(record, time, computer, channel, provider, eid, fields, raw)
                if builder.full:
                    yield from builder.flush()
        yield from builder.flush()

