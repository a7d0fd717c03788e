"""Argus flow records (`ra` output, the `.binetflow` files of the CTU / Stratosphere datasets).

Header-driven: `StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,
SrcBytes,SrcPkts,Label` in the Stratosphere files, any `ra -s` field list and delimiter in general.
Columns: SrcAddr/DstAddr/Sport/Dport -> endpoints (for ICMP Argus writes type / code in hex in the
port fields; they are read as numbers, as Zeek logs ICMP type / code as ports), Proto -> protocol,
Dur -> duration, State -> conn_state, SrcPkts/SrcBytes -> the originator's side, DstPkts/DstBytes
(or TotPkts-SrcPkts, TotBytes-SrcBytes) -> the responder's. Argus counts bytes on the wire (headers
included). `StartTime` is local time of the `ra` run, read in `IngestSettings.local_timezone`.
See `flowcsv` for the shared reader.
"""

from __future__ import annotations

from collections.abc import Iterator

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.flowcsv import read_flows, split_header
from aptwatch.sources.zeek_map import Col, Derived, LogMap

ARGUS = LogMap("argus", "network", (
    Col("src_ip", ("SrcAddr",)), Col("dst_ip", ("DstAddr",)), Col("src_port", ("Sport",), "int"),
    Col("dst_port", ("Dport",), "int"), Col("protocol", ("Proto",), "lower"), Col("duration", ("Dur",), "double"),
    Col("conn_state", ("State",)), Col("packets_out", ("SrcPkts",), "bigint"),
    Col("bytes_out", ("SrcBytes",), "bigint"),
    Col("packets_in", ("DstPkts",), "bigint"),
), (
    Derived("bytes_in", "COALESCE(TRY_CAST({DstBytes} AS BIGINT), TRY_CAST({TotBytes} AS BIGINT) - "
                        "TRY_CAST({SrcBytes} AS BIGINT))"),
    Derived("packets_in", "TRY_CAST({TotPkts} AS BIGINT) - TRY_CAST({SrcPkts} AS BIGINT)"),
), (("SrcAddr",), ("DstAddr",)))


class Argus(Source):
    name = "argus"
    description = "Argus flow records (ra CSV output, Stratosphere .binetflow) -> network table."
    priority = 35

    def sniff(self, head: bytes, name: str) -> bool:
        lines = first_lines(head.lstrip(b"\xef\xbb\xbf"), 1)
        if not lines:
            return False
        _delim, names = split_header(lines[0].decode("utf-8", "replace"))
        return {"SrcAddr", "DstAddr"} <= set(names) and bool({"StartTime", "LastTime"} & set(names))

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        return read_flows(ctx, ARGUS, ("StartTime", "LastTime"), "argus")
