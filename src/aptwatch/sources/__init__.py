"""Log sources: one module per format, registered here with one line each.

`sniff_order()` gives the sources in the order content is offered to them: specific formats
first (low `priority`), catch-alls last; ties keep registration order.
"""

from __future__ import annotations

from aptwatch.registry import Registry
from aptwatch.sources.base import Source
from aptwatch.sources.evtx import Evtx
from aptwatch.sources.jsonl import JsonLines

SOURCES: Registry[Source] = Registry("source", [
    JsonLines(),
    Evtx(),
])


def sniff_order() -> list[Source]:
    order = {name: i for i, name in enumerate(SOURCES.names())}
    return sorted(SOURCES, key=lambda s: (s.priority, order[s.name]))


def detect_format(head: bytes, name: str) -> Source | None:
    """The first source (in sniff order) that claims this content, or None."""
    for source in sniff_order():
        if source.sniff(head, name):
            return source
    return None
