"""Azure Monitor VM insights `VMConnection` table, exported as JSON lines: per-process TCP connection
summaries of a machine's Dependency agent (Linux or Windows), aggregated per minute.

Each row -> `network`: `SourceIp`, `DestinationIp`, `DestinationPort`, `Protocol`, `BytesSent` ->
bytes_out, `BytesReceived` -> bytes_in, `ConnectionId` -> flow_id, `Computer` -> host;
initiated is `Direction == "outbound"` (Direction itself stays in `data`). The rest (ProcessName,
RemoteIp, link and response counters, agent and tenant ids, ...) goes to `data`; `raw` is the
row. Time is `TimeGenerated` (the end of the aggregation interval).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aptwatch.model.hosts import host_key
from aptwatch.model.records import IngestWarning, RowBuffer, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.la_syslog import iter_json_rows, la_rows, la_time
from aptwatch.sources.syslog import dumps, to_int

#: field -> (column, integer bits or 0 for text)
COLUMNS: dict[str, tuple[str, int]] = {
    "SourceIp": ("src_ip", 0), "DestinationIp": ("dst_ip", 0), "SourcePort": ("src_port", 32),
    "DestinationPort": ("dst_port", 32), "Protocol": ("protocol", 0), "BytesSent": ("bytes_out", 64),
    "BytesReceived": ("bytes_in", 64), "ConnectionId": ("flow_id", 0),
}


class LogAnalyticsVMConnection(Source):
    name = "la_vmconnection"
    #: no Sigma product: the Dependency agent reports Windows and Linux machines alike in one table (a row does
    #: not say which), so rules of either product may read these rows (was "linux": Windows
    #: `network_connection` rules never saw Windows VMs' connections)
    product = None
    description = "Azure Log Analytics VMConnection table (VM insights) as JSON lines -> network."
    priority = 15

    def sniff(self, head: bytes, name: str) -> bool:
        return la_rows(head, "VMConnection")

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        buf = RowBuffer(ctx.settings.batch_rows)
        for item in iter_json_rows(ctx):
            if isinstance(item, IngestWarning):
                yield item
                continue
            record, text, obj = item
            row: dict[str, Any] = {"record": record, "raw": text, "time": la_time(obj.get("TimeGenerated")),
                                   "host": host_key(obj["Computer"]) if isinstance(obj.get("Computer"), str) else None,
                                   "channel": "VMConnection", "provider": "VM insights"}
            data: dict[str, Any] = {}
            for key, value in obj.items():
                col, bits = COLUMNS.get(key, ("", 0))
                if not col:
                    data[key] = value
                elif bits:
                    n = to_int(value, bits)
                    if n is None and value is not None:
                        data[key] = value
                        yield IngestWarning("bad_value", f"{key}={IngestWarning.excerpt(str(value), 40)} is not an "
                                            "integer; kept in data", record)
                    row[col] = n
                elif isinstance(value, str):
                    row[col] = value.lower() if col == "protocol" else value
                elif value is not None:
                    data[key] = value
            direction = obj.get("Direction")
            if direction in ("outbound", "inbound"):
                row["initiated"] = direction == "outbound"
            if row["time"] is None:
                yield IngestWarning("bad_time", "no readable TimeGenerated", record)
            row["data"] = dumps(data) if data else None
            batch = buf.add("network", row)
            if batch is not None:
                yield batch
        yield from buf.flush()
