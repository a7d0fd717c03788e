"""nfdump flow records as CSV (`nfdump -r FILE -o csv`), NetFlow / IPFIX / sFlow collected by nfcapd.

Header `ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,...`; the `Summary` block
nfdump prints after the records is not read. Columns: sa/da/sp/dp -> endpoints, pr -> protocol,
td -> duration, ipkt/ibyt -> the originator's side, opkt/obyt -> the responder's (0 for
unidirectional NetFlow), ts -> time (local time of the nfdump run, read in
`IngestSettings.local_timezone`); flags, interfaces, AS numbers and the rest go to `data`.

nfdump's own binary files (`nfcapd.*`) are recognised and answered with one `unsupported_format`
warning saying how to convert them: reading that format (compressed blocks, extension maps,
several layout versions) is nfdump's job, and its CSV is stable.
"""

from __future__ import annotations

from collections.abc import Iterator

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.flowcsv import read_flows
from aptwatch.sources.zeek_map import Col, LogMap

NFDUMP = LogMap("nfdump", "network", (
    Col("src_ip", ("sa",)), Col("dst_ip", ("da",)), Col("src_port", ("sp",), "int"), Col("dst_port", ("dp",), "int"),
    Col("protocol", ("pr",), "lower"), Col("duration", ("td",), "double"), Col("packets_out", ("ipkt",), "bigint"),
    Col("bytes_out", ("ibyt",), "bigint"), Col("packets_in", ("opkt",), "bigint"), Col("bytes_in", ("obyt",), "bigint"),
), (), (("sa",), ("da",)))

#: nfdump binary file magic (0xA50C, little endian) and layout versions 1 and 2
_BINARY = (b"\x0c\xa5\x01\x00", b"\x0c\xa5\x02\x00")


class NfdumpCsv(Source):
    name = "nfdump_csv"
    description = "nfdump flow records as CSV (nfdump -o csv) -> network table."
    priority = 35

    def sniff(self, head: bytes, name: str) -> bool:
        if head.startswith(_BINARY):
            return True
        lines = first_lines(head.lstrip(b"\xef\xbb\xbf"), 1)
        return bool(lines) and lines[0].replace(b" ", b"").startswith(b"ts,te,td,sa,da,sp,dp,pr")

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        with ctx.open() as f:
            binary = f.read(4) in _BINARY
        if binary:
            yield IngestWarning("unsupported_format", "nfdump binary file: convert it with `nfdump -r FILE -o csv "
                                "> FILE.csv` and ingest the CSV")
            return
        yield from read_flows(ctx, NFDUMP, ("ts", "te"), "nfdump", trailer="Summary")
