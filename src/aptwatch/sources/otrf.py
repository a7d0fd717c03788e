"""The OTRF Security-Datasets (Mordor) shape of Windows host logs: flat JSON lines with the
EventData fields at the top level next to Hostname, Channel, SourceName, EventID,
@timestamp / TimeCreated and Message. Most datasets were collected with NXLog and shipped
through Logstash (tag `mordorDataset`); later ones were exported with PowerShell (no NXLog
fields). Both read as in sources/windows/flat.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.nxlog import read_flat
from aptwatch.sources.windows.jsonread import first_objects, head_text
from aptwatch.sources.windows.reader import sniff_objects


def is_otrf(o: dict[str, Any]) -> bool:
    if not ("EventID" in o and "Hostname" in o and ("Channel" in o or "SourceName" in o)):
        return False
    tags = o.get("tags")
    if isinstance(tags, list) and "mordorDataset" in tags:
        return True
    return "SourceModuleType" not in o and ("@timestamp" in o or "TimeCreated" in o)


class Otrf(Source):
    name = "otrf"
    product = "windows"
    description = "OTRF Security-Datasets (Mordor) Windows host logs: flat JSON lines."
    priority = 29

    def sniff(self, head: bytes, name: str) -> bool:
        objs = first_objects(head)
        if objs:
            return sniff_objects(objs, is_otrf)
        text = head_text(head)[:8192]
        return '"mordorDataset"' in text and '"EventID"' in text

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        return read_flat(ctx, "OTRF")
