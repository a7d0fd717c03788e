"""Windows events collected by NXLog (`im_msvistalog` / `im_wineventlog`, `to_json()`), one JSON
object per line, EventData fields flattened next to NXLog's own (EventTime, Hostname,
SourceName, Severity, Message ...). See sources/windows/flat.py for what is read how.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.windows.flat import FlatConverter
from aptwatch.sources.windows.jsonread import first_objects, head_text
from aptwatch.sources.windows.reader import read_events, sniff_objects

MODULES = ("im_msvistalog", "im_wineventlog", "im_mseventlog", "im_etw")


def is_nxlog(o: dict[str, Any]) -> bool:
    if o.get("SourceModuleType") in MODULES:
        return "EventID" in o
    return all(k in o for k in ("EventTime", "SourceName", "EventID", "Hostname"))


def read_flat(ctx: ReadContext, what: str) -> Iterator[TableBatch | IngestWarning]:
    convert = FlatConverter()
    yield from read_events(ctx, convert, what)
    if convert.naive_times:
        yield IngestWarning("naive_time", f"{convert.naive_times} event time(s) carry no time zone; read in "
                                          f"{ctx.settings.local_timezone} (the collector's local time zone is "
                                          "not in the data)")


class NXLog(Source):
    name = "nxlog"
    product = "windows"
    description = "Windows events collected by NXLog (im_msvistalog JSON)."
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        objs = first_objects(head)
        if objs:
            return sniff_objects(objs, is_nxlog)
        text = head_text(head)[:8192]
        return any(f'"SourceModuleType":"{m}"' in text.replace(" ", "") for m in MODULES) and '"EventID"' in text

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        return read_flat(ctx, "NXLog")
