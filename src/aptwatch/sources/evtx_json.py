"""Windows events as the evtx crate renders them in JSON: `evtx_dump -o json/jsonl`, pyevtx-rs
`records_json()` output, `chainsaw dump --json`, the SigmaHQ regression data.

Each record is `{"Event": {"System": {...}, "EventData" | "UserData": {...}}}` (or pyevtx's
`{"event_record_id", "timestamp", "data": "<that JSON as text>"}`), as JSON lines, one array
or pretty-printed documents (evtx_dump prints "Record N" before each). The same flattening
as native EVTX applies, so the rows equal those of the .evtx the dump came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.windows.builder import WinBatchBuilder
from aptwatch.sources.windows.evtxjson import split_event
from aptwatch.sources.windows.jsonread import first_objects, head_text
from aptwatch.sources.windows.reader import Canonical, read_events, sniff_objects


def _is_evtx_json(o: dict[str, Any]) -> bool:
    ev = o.get("Event")
    if isinstance(ev, dict):
        return isinstance(ev.get("System"), dict)
    data = o.get("data")
    return "event_record_id" in o and isinstance(data, str) and data.lstrip().startswith('{"Event"')


def convert(obj: Any, builder: WinBatchBuilder) -> Canonical | None:
    if "Event" not in obj and isinstance(obj.get("data"), str):  # pyevtx-rs record wrapper
        try:
            obj = orjson.loads(obj["data"])
        except orjson.JSONDecodeError:
            return None
    return split_event(obj)


class EvtxJson(Source):
    name = "evtx_json"
    product = "windows"
    description = "Windows events rendered as JSON by the evtx crate (evtx_dump, pyevtx-rs, chainsaw dump)."
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        objs = first_objects(head)
        if objs:
            return sniff_objects(objs, _is_evtx_json)
        text = head_text(head)[:4096]
        return '"Event"' in text and '"System"' in text and '"EventID"' in text and '"Provider"' in text

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        return read_events(ctx, convert, "evtx JSON")
