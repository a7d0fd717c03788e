"""The packet decoder behind the `pcap` source (sources/pcap.py), imported only when a capture is read.

pcap / pcapng captures, for users without a Zeek sensor (a fallback: Zeek stays the recommended sensor).

From the packets this source makes what a sensor would log, in a much simpler way:
- `network`: one connection summary per 5-tuple flow (originator = the SYN sender, else the first
  sender), packets and transport-payload bytes each way, duration and a Zeek-style `conn_state`
  (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH), `community_id` for TCP/UDP;
  flows end after 5 min (TCP) / 1 min (UDP, ICMP) of silence, like Zeek's inactivity timeouts;
- `dns`: one row per transaction (query matched to its response by flow and id), with answers;
- `http`: one row per HTTP/1.x request head seen at the start of a segment, with the response
  status, length and type when the response head is seen;
- `tls`: one row per ClientHello: SNI, JA3, and from the server's first flight version, cipher,
  JA3S and the SHA-1 of the first certificate (TLS <= 1.2; TLS 1.3 encrypts it).
There is no TCP reassembly beyond the in-order first 16 KB of each direction (enough for hellos
split over segments); an HTTP request split across segments is seen by its first segment only.

Packet library: dpkt (small, pure Python, maintained, reads pcap and pcapng from a stream and
decodes Ethernet / SLL / SLL2 / raw IP / loopback, IPv4 / IPv6, TCP / UDP / ICMP and DNS). Scapy
was not chosen: it is several times slower per packet and brings far more than parsing.

`record` is `packet number x 10 + kind` (kind 0 connection, 1 DNS, 2 HTTP, 3 TLS) so the
connection summary and the DNS transaction started by the same packet keep distinct event ids;
`raw` is the derived record as JSON (a capture has no text line), `flow_id` a connection id
("P" + 16 hex) shared by the summary and the DNS / HTTP / TLS rows of that connection.
A truncated capture yields the records of the packets before the damage and a `truncated` warning.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import dpkt
import orjson
import pyarrow as pa

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.model.schema import arrow_schema, event_table
from aptwatch.sources.base import ReadContext
from aptwatch.sources.netbase import AddressContext, endpoint_hosts, parse_networks
from aptwatch.sources.pcap import PCAPNG_MAGIC
from aptwatch.sources.pcap_l7 import (
    MAX_HEAD,
    TlsInfo,
    client_hello,
    parse_dns,
    parse_http_request,
    parse_http_response,
    server_hello,
)

_DNS_PORTS = frozenset({53, 5353, 5355})
_TIMEOUT = {"tcp": 300.0, "udp": 60.0, "icmp": 60.0}
_EXPIRE_EVERY = 20_000
_MAX_FLOWS = 250_000
_MAX_PENDING_DNS = 100_000
_KIND = {"network": 0, "dns": 1, "http": 2, "tls": 3}
_DAMAGE = (dpkt.UnpackError, ValueError, IndexError, struct.error, KeyError, TypeError, AttributeError)


@dataclass
class _Flow:
    uid: str
    proto: str
    orig: tuple[str, int | None]
    resp: tuple[str, int | None]
    first_ts: float
    first_packet: int
    last_ts: float = 0.0
    pkts: list[int] = field(default_factory=lambda: [0, 0])
    bytes: list[int] = field(default_factory=lambda: [0, 0])
    flags: set[str] = field(default_factory=set)
    heads: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])
    next_seq: list[int | None] = field(default_factory=lambda: [None, None])
    tls: TlsInfo | None = None
    tls_packet: int = 0
    tls_client: int = 0
    http: list[dict[str, Any]] = field(default_factory=list)
    service: str | None = None
    community_id: str | None = None

    def closed(self) -> bool:
        return bool(self.flags & {"rst_o", "rst_r"}) or {"fin_o", "fin_r"} <= self.flags


def conn_state(f: _Flow) -> str:
    """Zeek's conn_state, from the TCP flags seen each way (UDP / ICMP: SF with a reply, else S0)."""
    if f.proto != "tcp":
        return "SF" if f.pkts[1] else "S0"
    s = f.flags
    syn, synack = "syn_o" in s, "synack_r" in s
    if not syn and not synack:
        return "OTH"
    if syn and not synack:
        if "rst_r" in s:
            return "REJ"
        if "rst_o" in s:
            return "RSTOS0"
        if "fin_o" in s:
            return "SH"
        return "S0"
    if synack and not syn:
        if "rst_r" in s:
            return "RSTRH"
        if "fin_r" in s:
            return "SHR"
        return "OTH"
    if "rst_o" in s:
        return "RSTO"
    if "rst_r" in s:
        return "RSTR"
    if {"fin_o", "fin_r"} <= s:
        return "SF"
    if "fin_o" in s:
        return "S2"
    if "fin_r" in s:
        return "S3"
    return "S1"


def community_id(proto: int, src: str, sport: int, dst: str, dport: int) -> str:
    """Community ID v1 (seed 0) of a TCP / UDP flow."""
    a, b = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if (a, sport) > (b, dport):
        a, b, sport, dport = b, a, dport, sport
    data = struct.pack("!H", 0) + a + b + struct.pack("!BBHH", proto, 0, sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()


def _ip_of(linktype: int, buf: bytes) -> Any:
    if linktype == 1:
        layer: Any = dpkt.ethernet.Ethernet(buf).data
    elif linktype == 113:
        layer = dpkt.sll.SLL(buf).data
    elif linktype == 276:
        layer = dpkt.sll2.SLL2(buf).data
    elif linktype in (0, 108):
        layer = dpkt.loopback.Loopback(buf).data
    elif linktype in (12, 14, 101, 228, 229):
        layer = dpkt.ip6.IP6(buf) if buf[:1] and buf[0] >> 4 == 6 else dpkt.ip.IP(buf)
    else:
        return None
    return layer if isinstance(layer, dpkt.ip.IP | dpkt.ip6.IP6) else None


class _Capture:
    """Flow table and output rows of one capture."""

    def __init__(self, networks: AddressContext, batch_rows: int) -> None:
        self.networks = networks
        self.batch_rows = batch_rows
        self.flows: dict[tuple[Any, ...], _Flow] = {}
        self.pending_dns: dict[tuple[str, int], dict[str, Any]] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in _KIND}
        self.bad_packets = 0
        self.bad_dns = 0
        self.now = 0.0

    # -- packets -------------------------------------------------------------------
    def packet(self, n: int, ts: float, linktype: int, buf: bytes) -> None:
        self.now = ts
        try:
            ip = _ip_of(linktype, buf)
            if ip is None:
                return
            fam = socket.AF_INET6 if isinstance(ip, dpkt.ip6.IP6) else socket.AF_INET
            src, dst = socket.inet_ntop(fam, ip.src), socket.inet_ntop(fam, ip.dst)
            t = ip.data
            if isinstance(t, dpkt.tcp.TCP):
                self._tcp(n, ts, src, dst, t)
            elif isinstance(t, dpkt.udp.UDP):
                self._udp(n, ts, src, dst, t)
            elif isinstance(t, dpkt.icmp.ICMP | dpkt.icmp6.ICMP6):
                f, d = self._flow(n, ts, "icmp", src, t.type, dst, t.code, syn=True)
                self._count(f, d, ts, len(bytes(t.data)))
            else:
                f, d = self._flow(n, ts, str(getattr(ip, "p", "")), src, None, dst, None, syn=True)
                self._count(f, d, ts, len(bytes(t)) if isinstance(t, bytes | dpkt.Packet) else 0)
        except _DAMAGE:
            self.bad_packets += 1
        if n % _EXPIRE_EVERY == 0:
            self.expire(ts)

    def _flow(self, n: int, ts: float, proto: str, src: str, sport: int | None, dst: str, dport: int | None,
              syn: bool) -> tuple[_Flow, int]:
        a, b = (src, sport), (dst, dport)
        key = (proto, *min(a, b, key=repr), *max(a, b, key=repr))
        f = self.flows.get(key)
        if f is not None and proto == "tcp" and syn and f.closed():
            self._emit_flow(self.flows.pop(key))  # port reuse: a new SYN after a finished connection
            f = None
        if f is None:
            uid = "P" + hashlib.sha1(f"{n}|{key}".encode(), usedforsecurity=False).hexdigest()[:16]
            f = _Flow(uid, proto, a, b, ts, n)
            if proto in ("tcp", "udp") and sport is not None and dport is not None:
                f.community_id = community_id(6 if proto == "tcp" else 17, src, sport, dst, dport)
            self.flows[key] = f
            if len(self.flows) > _MAX_FLOWS:
                self.expire(ts, force=len(self.flows) // 10)
        return f, (0 if (src, sport) == f.orig else 1)

    @staticmethod
    def _count(f: _Flow, d: int, ts: float, payload: int) -> None:
        f.pkts[d] += 1
        f.bytes[d] += payload
        f.last_ts = ts

    def _tcp(self, n: int, ts: float, src: str, dst: str, t: Any) -> None:
        syn, ack = bool(t.flags & dpkt.tcp.TH_SYN), bool(t.flags & dpkt.tcp.TH_ACK)
        f, d = self._flow(n, ts, "tcp", src, t.sport, dst, t.dport, syn and not ack)
        if syn and ack and f.pkts == [0, 0] and d == 0:
            f.orig, f.resp, d = f.resp, f.orig, 1  # first packet seen is the SYN-ACK: its receiver originated
        payload = bytes(t.data)
        self._count(f, d, ts, len(payload))
        side = "o" if d == 0 else "r"
        if syn and not ack:
            f.flags.add("syn_" + side)
        elif syn and ack:
            f.flags.add("synack_" + side)
        if t.flags & dpkt.tcp.TH_FIN:
            f.flags.add("fin_" + side)
        if t.flags & dpkt.tcp.TH_RST:
            f.flags.add("rst_" + side)
        if not payload:
            return
        if len(f.heads[d]) < MAX_HEAD and (f.next_seq[d] is None or t.seq == f.next_seq[d]):
            f.heads[d] += payload[: MAX_HEAD - len(f.heads[d])]
            f.next_seq[d] = (t.seq + len(payload)) & 0xFFFFFFFF
            self._tls(n, ts, f, d)
        if f.resp[1] == 53 or f.orig[1] == 53:
            self._dns(n, ts, f, src, t.sport, dst, t.dport, payload[2:])
        req = parse_http_request(payload)
        if req is not None:
            f.service = f.service or "http"
            f.http.append({"record": n * 10 + _KIND["http"], "time": ts, "client": d, **req})
            return
        resp = parse_http_response(payload)
        if resp is not None:
            for r in f.http:
                if r["client"] != d and "status_code" not in r:
                    r.update(resp)
                    break

    def _tls(self, n: int, ts: float, f: _Flow, d: int) -> None:
        head = f.heads[d]
        if len(head) < 6 or head[0] != 0x16 or head[1] != 0x03:
            return
        if f.tls is None:
            info = TlsInfo()
            if client_hello(bytes(head), info):
                f.tls, f.tls_packet, f.tls_client, f.service = info, n, d, "ssl"
        elif d != f.tls_client and not f.tls.server_hello:
            server_hello(bytes(head), f.tls)

    def _udp(self, n: int, ts: float, src: str, dst: str, u: Any) -> None:
        f, d = self._flow(n, ts, "udp", src, u.sport, dst, u.dport, syn=True)
        payload = bytes(u.data)
        self._count(f, d, ts, len(payload))
        if u.sport in _DNS_PORTS or u.dport in _DNS_PORTS:
            self._dns(n, ts, f, src, u.sport, dst, u.dport, payload)

    def _dns(self, n: int, ts: float, f: _Flow, src: str, sport: int, dst: str, dport: int, payload: bytes) -> None:
        msg = parse_dns(payload)
        if msg is None:
            self.bad_dns += 1
            return
        f.service = f.service or "dns"
        key = (f.uid, msg.trans_id)
        if not msg.is_response:
            old = self.pending_dns.get(key)
            if old is not None and old["query"] == msg.query:  # a retransmission: one transaction, as Zeek logs it
                old["_retransmits"] = old.get("_retransmits", 0) + 1
                return
            if old is not None:
                self._emit("dns", self.pending_dns.pop(key))
            self.pending_dns[key] = {"record": n * 10 + _KIND["dns"], "time": ts, "flow_id": f.uid, "src_ip": src,
                                     "src_port": sport, "dst_ip": dst, "dst_port": dport, "query": msg.query,
                                     "query_type": msg.qtype, "community_id": f.community_id,
                                     "_trans_id": msg.trans_id}
            if len(self.pending_dns) > _MAX_PENDING_DNS:
                self._emit("dns", self.pending_dns.pop(next(iter(self.pending_dns))))
            return
        row = self.pending_dns.pop(key, None) or {
            "record": n * 10 + _KIND["dns"], "time": ts, "flow_id": f.uid, "src_ip": dst, "src_port": dport,
            "dst_ip": src, "dst_port": sport, "query": msg.query, "query_type": msg.qtype,
            "community_id": f.community_id, "_trans_id": msg.trans_id}
        row.update(rcode=msg.rcode, answers=";".join(msg.answers) or None, _rtt=round(ts - row["time"], 6))
        self._emit("dns", row)

    # -- output --------------------------------------------------------------------
    def expire(self, now: float, force: int = 0) -> None:
        """Emit flows idle past their timeout (and, with `force`, that many of the longest idle ones)."""
        idle = [k for k, f in self.flows.items() if now - f.last_ts > _TIMEOUT.get(f.proto, 60.0)]
        if force > len(idle):
            rest = sorted((k for k in self.flows if k not in set(idle)), key=lambda k: self.flows[k].last_ts)
            idle += rest[: force - len(idle)]
        for k in idle:
            self._emit_flow(self.flows.pop(k))

    def _emit_flow(self, f: _Flow) -> None:
        (o_ip, o_port), (r_ip, r_port) = f.orig, f.resp
        self._emit("network", {
            "record": f.first_packet * 10, "time": f.first_ts, "flow_id": f.uid, "src_ip": o_ip, "src_port": o_port,
            "dst_ip": r_ip, "dst_port": r_port, "protocol": f.proto, "app_protocol": f.service,
            "duration": round(f.last_ts - f.first_ts, 6), "packets_out": f.pkts[0], "packets_in": f.pkts[1],
            "bytes_out": f.bytes[0], "bytes_in": f.bytes[1], "conn_state": conn_state(f),
            "community_id": f.community_id})
        for r in f.http:
            c, s = (f.orig, f.resp) if r.pop("client") == 0 else (f.resp, f.orig)
            self._emit("http", {**r, "flow_id": f.uid, "src_ip": c[0], "src_port": c[1], "dst_ip": s[0],
                                "dst_port": s[1], "community_id": f.community_id})
        if f.tls is not None:
            t = f.tls
            c, s = (f.orig, f.resp) if f.tls_client == 0 else (f.resp, f.orig)
            self._emit("tls", {"record": f.tls_packet * 10 + _KIND["tls"], "time": f.first_ts, "flow_id": f.uid,
                               "src_ip": c[0], "src_port": c[1], "dst_ip": s[0], "dst_port": s[1],
                               "server_name": t.server_name, "ja3": t.ja3, "ja3s": t.ja3s, "version": t.version,
                               "cipher": t.cipher, "established": t.server_hello, "cert_sha1": t.cert_sha1,
                               "community_id": f.community_id, "_ja3_string": t.extra.get("ja3_string")})

    def _emit(self, table: str, row: dict[str, Any]) -> None:
        self.rows[table].append(row)

    def batches(self, final: bool = False) -> Iterator[TableBatch]:
        for table, rows in self.rows.items():
            if rows and (final or len(rows) >= self.batch_rows):
                self.rows[table] = []
                yield self._batch(table, rows)

    def _batch(self, table: str, rows: list[dict[str, Any]]) -> TableBatch:
        schema = arrow_schema(event_table(table))
        out_rows = []
        for r in rows:
            raw = {k.lstrip("_"): v for k, v in r.items() if v is not None and k != "record"}
            raw["packet"] = r["record"] // 10
            clean = {k: v for k, v in r.items() if not k.startswith("_")}
            clean["time"] = datetime.fromtimestamp(r["time"], UTC)
            clean["raw"] = orjson.dumps(raw).decode()
            clean["channel"] = "pcap_" + ("conn" if table == "network" else table)
            clean["provider"] = "aptwatch-pcap"
            out_rows.append(clean)
        present: set[str] = set()
        for r in out_rows:
            present.update(r)
        names = [n for n in schema.names if n in present]
        data = pa.Table.from_pylist(out_rows, schema=pa.schema([schema.field(n) for n in names]))
        hosts = endpoint_hosts(data.column("src_ip"), data.column("dst_ip"), self.networks)
        return TableBatch(table, data.append_column("host", hosts))

    def finish(self) -> Iterator[TableBatch | IngestWarning]:
        for k in list(self.flows):
            self._emit_flow(self.flows.pop(k))
        for row in self.pending_dns.values():
            self._emit("dns", row)
        self.pending_dns.clear()
        yield from self.batches(final=True)
        if self.bad_packets:
            yield IngestWarning("bad_packet", f"{self.bad_packets} packet(s) could not be decoded")
        if self.bad_dns:
            yield IngestWarning("bad_dns", f"{self.bad_dns} DNS-port payload(s) were not DNS messages")


class _Prefixed:
    """A stream whose first bytes were already read (the magic) and are served again."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        out, self.head = (self.head, b"") if n < 0 or n >= len(self.head) else (self.head[:n], self.head[n:])
        if n < 0:
            return out + self.rest.read()
        return out + (self.rest.read(n - len(out)) if len(out) < n else b"")


class _Damaged(Exception):
    """The capture cannot be read past this point."""


_MAX_CAPLEN = 1 << 20


def _classic_records(f: _Prefixed) -> tuple[int, Iterator[tuple[float, bytes]]]:
    """Link type and records of a classic pcap stream. Our own loop, not dpkt's reader: dpkt hands
    on a packet shorter than its header says without a word, and a cut capture must be reported."""
    hdr = f.read(24)
    if len(hdr) < 24:
        raise _Damaged("file header cut short")
    endian = "<" if hdr[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    scale = 1e9 if hdr[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e6
    linktype = struct.unpack(endian + "I", hdr[20:24])[0] & 0x0FFFFFFF

    def records() -> Iterator[tuple[float, bytes]]:
        while True:
            rh = f.read(16)
            if not rh:
                return
            if len(rh) < 16:
                raise _Damaged("record header cut short")
            sec, frac, caplen, _wire = struct.unpack(endian + "IIII", rh)
            if caplen > _MAX_CAPLEN:
                raise _Damaged(f"record length {caplen} is not plausible")
            buf = f.read(caplen)
            if len(buf) < caplen:
                raise _Damaged("packet data cut short")
            yield sec + frac / scale, buf

    return linktype, records()


def read_capture(ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
    """Records and warnings of one pcap / pcapng source (the `pcap` source's reader)."""
    cap = _Capture(AddressContext(parse_networks(ctx.settings.internal_networks)), ctx.settings.batch_rows)
    with ctx.open() as stream:
        magic = stream.read(4)
        try:
            if magic == PCAPNG_MAGIC:
                ng: Any = dpkt.pcapng.Reader(_Prefixed(magic, stream))
                linktype, packets = int(ng.datalink()), iter(ng)
            else:
                linktype, packets = _classic_records(_Prefixed(magic, stream))
        except (*_DAMAGE, _Damaged, dpkt.NeedData, EOFError, OSError) as e:
            yield IngestWarning("truncated", f"capture header unreadable: {type(e).__name__}: {e}")
            return
        if linktype not in (0, 1, 12, 14, 101, 108, 113, 228, 229, 276):
            yield IngestWarning("unsupported_format", f"link type {linktype} is not decoded")
            return
        n = 0
        try:
            for ts, buf in packets:
                n += 1
                cap.packet(n, float(ts), linktype, buf)
                if n % 5000 == 0:
                    yield from cap.batches()
        except (*_DAMAGE, _Damaged, dpkt.NeedData, EOFError, OSError) as e:
            yield IngestWarning("truncated", f"capture ends inside packet {n + 1}: {type(e).__name__}: {e}",
                                n + 1)
    yield from cap.finish()
