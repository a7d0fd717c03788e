"""Azure Monitor Log Analytics `Syslog` table, exported as JSON lines (Microsoft Sentinel, the OTRF
Security-Datasets Linux samples).

Each row is one syslog message from a Linux machine: `SyslogMessage` (the text), `ProcessName`
(the program), `Computer` / `HostName`, `EventTime` (when it was logged, UTC) and envelope
columns (`TenantId`, `TimeGenerated`, `Facility`, `SeverityLevel`, `HostIP`, `_ResourceId`, ...).
Messages are routed by content exactly as in syslog text: audit and AUOMS records to the
audit assembler (records of one event are joined across rows), Sysmon for Linux `<Event>` XML
to the Sysmon mapping, auth / account / cron messages to the auth.log mapping, the rest to
`generic`. `raw` is the JSON row; envelope columns go to `data` under their own names
(`EventData`, a copy of the AUOMS message body, is left to `raw`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from aptwatch.model.hosts import host_key
from aptwatch.model.records import IngestWarning, RowBuffer, TableBatch
from aptwatch.sources.auditd import AuditHandler, is_audit_message
from aptwatch.sources.authlog import AuthHandler
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.lines import iter_line_chunks
from aptwatch.sources.syslog import Item, SyslogLine, collect
from aptwatch.sources.sysmon_linux import SysmonHandler, is_sysmon_message

#: columns the row's columns take (the rest of the envelope goes to `data`)
_TAKEN = frozenset({"SyslogMessage", "EventData"})


def la_rows(head: bytes, type_name: str) -> bool:
    """True when the first lines are Log Analytics JSON rows of table `type_name`."""
    lines = first_lines(head.lstrip(b"\xef\xbb\xbf"), 3)
    if not lines:
        return False
    try:
        objs = [orjson.loads(ln) for ln in lines]
    except orjson.JSONDecodeError:
        return False
    return all(isinstance(o, dict) and o.get("Type") == type_name and "TimeGenerated" in o for o in objs)


def la_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


def iter_json_rows(ctx: ReadContext) -> Iterator[tuple[int, str, dict[str, Any]] | IngestWarning]:
    """(line number, line, object) per JSON-object line; warnings for the others."""
    with ctx.open() as stream:
        for chunk in iter_line_chunks(stream):
            yield from chunk.warnings
            for i, text in enumerate(chunk.lines.to_pylist()):
                if not text or text.isspace():
                    continue
                record = chunk.first_line + i
                try:
                    obj = orjson.loads(text)
                except orjson.JSONDecodeError as e:
                    try:  # valid JSON orjson declines (integers beyond 64 bits) is still read
                        obj = json.loads(text)
                    except (ValueError, RecursionError):
                        yield IngestWarning("bad_json", f"{e}: {IngestWarning.excerpt(text)}", record)
                        continue
                if not isinstance(obj, dict):
                    yield IngestWarning("not_object", IngestWarning.excerpt(text), record)
                    continue
                yield record, text, obj


class LogAnalyticsSyslog(Source):
    name = "la_syslog"
    product = "linux"
    description = ("Azure Log Analytics Syslog table as JSON lines: audit/AUOMS, Sysmon for Linux and auth "
                   "messages routed to their mappings.")
    priority = 15

    def sniff(self, head: bytes, name: str) -> bool:
        return la_rows(head, "Syslog")

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        audit, sysmon, auth = AuditHandler(), SysmonHandler(ctx.settings), AuthHandler()
        buf = RowBuffer(ctx.settings.batch_rows)
        for item in iter_json_rows(ctx):
            if isinstance(item, IngestWarning):
                yield item
                continue
            record, text, obj = item
            message = obj.get("SyslogMessage")
            if not isinstance(message, str):
                yield IngestWarning("no_message", "row has no SyslogMessage string; stored as generic", record)
                message = ""
            envelope = {k: v for k, v in obj.items() if k not in _TAKEN}
            hostname = _str(obj.get("Computer")) or _str(obj.get("HostName"))
            time = la_time(obj.get("EventTime")) or la_time(obj.get("TimeGenerated"))
            items: Iterable[Item]
            if is_audit_message(message):
                items = audit.add_message(message, record, text, host_key(hostname), envelope)
            elif is_sysmon_message(message):
                items = sysmon.add(message, record, text, hostname, time, envelope)
            else:
                pid = obj.get("ProcessID")
                line = SyslogLine(message, True, time=time, hostname=hostname, program=_str(obj.get("ProcessName")),
                                  pid=str(pid) if isinstance(pid, int | str) and pid != "" else None,
                                  extra=envelope)
                items = auth.handle(line, record, text)
            yield from collect(items, buf)
        yield from collect(audit.finish(), buf)
        yield from collect(sysmon.finish(), buf)
        yield from buf.flush()


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None
