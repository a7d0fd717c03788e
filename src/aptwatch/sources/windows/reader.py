"""The loop every Windows JSON export source shares: records -> canonical events -> batches.

A source supplies a `Converter`: JSON object -> (time, computer, channel, provider,
event_id, fields), or None when the object is not a Windows event of its shape. Records
that are not (a stray line in a mixed file) are still stored, in `generic` with `raw`
only, with a `not_windows_event` warning: nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext
from aptwatch.sources.windows.builder import WinBatchBuilder
from aptwatch.sources.windows.jsonread import iter_records

#: (time, computer, channel, provider, event_id, fields)
Canonical = tuple[Any, Any, Any, Any, "int | None", dict[str, Any]]
Converter = Callable[[Any, WinBatchBuilder], "Canonical | None"]


def read_events(ctx: ReadContext, convert: Converter, what: str) -> Iterator[TableBatch | IngestWarning]:
    """Read every record of `ctx` with `convert`; `what` names the shape in warnings."""
    builder = WinBatchBuilder(ctx.settings.local_timezone, ctx.settings.batch_rows)
    with ctx.open() as stream:
        for item in iter_records(stream):
            if isinstance(item, IngestWarning):
                yield item
                continue
            record, raw, obj = item
            event = convert(obj, builder) if isinstance(obj, dict) else None
            if event is None:
                yield IngestWarning("not_windows_event", f"not a {what} record (kept in generic): "
                                    + IngestWarning.excerpt(raw), record)
                builder.add(record, None, None, None, None, None, {}, raw)
            else:
                time, computer, channel, provider, eid, fields = event
                builder.add(record, time, computer, channel, provider, eid, fields, raw)
            if builder.full:
                yield from builder.flush()
    yield from builder.flush()


def sniff_objects(objs: list[Any], is_shape: Callable[[dict[str, Any]], bool]) -> bool:
    """True when the first records are all objects of the shape (at least one)."""
    return bool(objs) and all(isinstance(o, dict) and is_shape(o) for o in objs)
