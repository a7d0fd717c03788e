"""pcap / pcapng captures, for users without a Zeek sensor (a fallback: Zeek stays the recommended sensor).

What is made from the packets (connections, DNS, HTTP, TLS SNI / JA3) and how is described in
`sources.pcap_capture`, which holds the decoder. It is imported only when a capture is read: the
packet library (dpkt) costs ~40 ms to import, paid by every `aptwatch` run that reads no capture
otherwise (the registry imports every source to sniff formats).
"""

from __future__ import annotations

from collections.abc import Iterator

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source

PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


class Pcap(Source):
    name = "pcap"
    description = "pcap / pcapng captures (fallback without a Zeek sensor): connections, DNS, HTTP, TLS SNI/JA3."
    priority = 10

    def sniff(self, head: bytes, name: str) -> bool:
        return head[:4] in PCAP_MAGIC or head[:4] == PCAPNG_MAGIC

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        from aptwatch.sources.pcap_capture import read_capture

        return read_capture(ctx)
