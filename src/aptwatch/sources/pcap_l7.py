"""Application-layer decoders for the pcap fallback: DNS messages, HTTP/1.x heads, TLS hellos.

Pure functions over bytes the attacker controls: every length is checked against the buffer, loops
are bounded by the buffer size, nothing is evaluated. DNS uses dpkt; HTTP request / response heads
and TLS ClientHello / ServerHello / Certificate are read by hand because dpkt wants complete
messages (a hello split across segments, a request whose body is still coming) and because JA3
needs the raw extension order, which dpkt's TLS objects do not keep for every field.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

import dpkt
from dpkt import ssl_ciphersuites

QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA",
          33: "SRV", 35: "NAPTR", 39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3",
          64: "SVCB", 65: "HTTPS", 99: "SPF", 252: "AXFR", 255: "*", 257: "CAA"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 6: "YXDOMAIN",
          7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE"}
TLS_VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12", 0x0304: "TLSv13"}
HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ", b"PATCH ", b"TRACE ",
                b"PROPFIND ")
MAX_HEAD = 16 * 1024


# --------------------------------------------------------------------------------------
# DNS
# --------------------------------------------------------------------------------------
@dataclass
class DnsMessage:
    trans_id: int
    is_response: bool
    query: str | None
    qtype: str | None
    rcode: str | None
    answers: list[str]


def _rdata(rr: Any) -> str:
    t = rr.type
    if t == 1 and len(rr.rdata) == 4:
        return socket.inet_ntop(socket.AF_INET, rr.rdata)
    if t == 28 and len(rr.rdata) == 16:
        return socket.inet_ntop(socket.AF_INET6, rr.rdata)
    for attr in ("cname", "nsname", "ptrname", "mxname", "srvname"):
        v = getattr(rr, attr, None)
        if isinstance(v, str):
            return v
    if t == 16:
        texts = getattr(rr, "text", None)
        if isinstance(texts, list):
            return " ".join(x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in texts)
    return f"<{QTYPES.get(t, str(t))}>"


def parse_dns(payload: bytes) -> DnsMessage | None:
    """A DNS message, or None when the bytes are not one (dpkt raises on damage; we do not)."""
    try:
        msg = dpkt.dns.DNS(payload)
    except (dpkt.UnpackError, ValueError, IndexError, struct.error, UnicodeDecodeError):
        return None
    q = msg.qd[0] if msg.qd else None
    answers = []
    for rr in msg.an[:64]:
        try:
            answers.append(_rdata(rr))
        except (ValueError, AttributeError, OSError):
            answers.append("<bad rdata>")
    return DnsMessage(msg.id, bool(msg.qr), q.name if q is not None else None,
                      QTYPES.get(q.type, str(q.type)) if q is not None else None,
                      RCODES.get(msg.rcode, str(msg.rcode)) if msg.qr else None, answers)


# --------------------------------------------------------------------------------------
# HTTP/1.x heads
# --------------------------------------------------------------------------------------
def _headers(lines: list[bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ln in lines[:100]:
        name, sep, value = ln.partition(b":")
        if sep:
            out.setdefault(name.strip().lower().decode("latin-1"), value.strip().decode("utf-8", "replace"))
    return out


def parse_http_request(payload: bytes) -> dict[str, Any] | None:
    """method / uri / version / host / user_agent / referrer / request_bytes of a request head."""
    if not payload.startswith(HTTP_METHODS):
        return None
    head = payload[:MAX_HEAD].split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) < 2:
        return None
    h = _headers(lines[1:])
    length = h.get("content-length", "")
    return {"method": parts[0].decode("latin-1"), "uri": parts[1].decode("utf-8", "replace"),
            "version": parts[2].decode("latin-1")[5:] if len(parts) > 2 and parts[2].startswith(b"HTTP/") else None,
            "http_host": h.get("host"), "user_agent": h.get("user-agent"), "referrer": h.get("referer"),
            "request_bytes": int(length) if length.isdigit() and len(length) < 19 else None}


def parse_http_response(payload: bytes) -> dict[str, Any] | None:
    """status_code / response_bytes / content_type of a response head."""
    if not payload.startswith(b"HTTP/1."):
        return None
    lines = payload[:MAX_HEAD].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) > 3:
        return None
    h = _headers(lines[1:])
    length = h.get("content-length", "")
    return {"status_code": int(parts[1]), "content_type": h.get("content-type"),
            "response_bytes": int(length) if length.isdigit() and len(length) < 19 else None}


# --------------------------------------------------------------------------------------
# TLS hellos
# --------------------------------------------------------------------------------------
def _grease(v: int) -> bool:
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


@dataclass
class TlsInfo:
    """What the first flights of a TLS connection said."""

    server_name: str | None = None
    client_version: int | None = None
    ja3: str | None = None
    version: str | None = None
    cipher: str | None = None
    ja3s: str | None = None
    server_hello: bool = False
    cert_sha1: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _handshakes(buf: bytes) -> list[tuple[int, bytes]]:
    """Handshake messages in a run of TLS records (stops at the first non-handshake or damaged record)."""
    body = b""
    pos = 0
    while pos + 5 <= len(buf) and buf[pos] == 0x16 and buf[pos + 1] == 0x03:
        n = int.from_bytes(buf[pos + 3:pos + 5], "big")
        body += buf[pos + 5:pos + 5 + n]
        pos += 5 + n
    out = []
    p = 0
    while p + 4 <= len(body):
        n = int.from_bytes(body[p + 1:p + 4], "big")
        out.append((body[p], body[p + 4:p + 4 + n]))
        p += 4 + n
    return out


def _extensions(data: bytes, pos: int) -> list[tuple[int, bytes]]:
    if pos + 2 > len(data):
        return []
    end = min(len(data), pos + 2 + int.from_bytes(data[pos:pos + 2], "big"))
    pos += 2
    out = []
    while pos + 4 <= end:
        etype = int.from_bytes(data[pos:pos + 2], "big")
        n = int.from_bytes(data[pos + 2:pos + 4], "big")
        out.append((etype, data[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return out


def _u16s(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)]


def client_hello(buf: bytes, info: TlsInfo) -> bool:
    """Fill SNI and JA3 from a ClientHello at the start of `buf`; False when there is none."""
    for htype, body in _handshakes(buf):
        if htype != 1 or len(body) < 38:
            continue
        version = int.from_bytes(body[0:2], "big")
        pos = 34
        pos += 1 + body[pos]  # session id
        if pos + 2 > len(body):
            return False
        n = int.from_bytes(body[pos:pos + 2], "big")
        ciphers = [c for c in _u16s(body[pos + 2:pos + 2 + n]) if not _grease(c)]
        pos += 2 + n
        if pos >= len(body):
            return False
        pos += 1 + body[pos]  # compression methods
        exts = _extensions(body, pos)
        curves: list[int] = []
        points: list[int] = []
        for etype, edata in exts:
            if etype == 0 and len(edata) > 5 and edata[2] == 0:
                n = int.from_bytes(edata[3:5], "big")
                info.server_name = edata[5:5 + n].decode("utf-8", "replace") or None
            elif etype == 10 and len(edata) >= 2:
                curves = [c for c in _u16s(edata[2:2 + int.from_bytes(edata[0:2], "big")]) if not _grease(c)]
            elif etype == 11 and edata:
                points = list(edata[1:1 + edata[0]])
        ext_ids = [e for e, _ in exts if not _grease(e)]
        ja3 = ",".join([str(version), "-".join(map(str, ciphers)), "-".join(map(str, ext_ids)),
                        "-".join(map(str, curves)), "-".join(map(str, points))])
        info.client_version = version
        info.ja3 = hashlib.md5(ja3.encode(), usedforsecurity=False).hexdigest()
        info.extra["ja3_string"] = ja3
        return True
    return False


def server_hello(buf: bytes, info: TlsInfo) -> bool:
    """Fill version, cipher, JA3S and the first certificate's SHA-1 from the server's first flight."""
    found = False
    for htype, body in _handshakes(buf):
        if htype == 2 and len(body) >= 38:
            version = int.from_bytes(body[0:2], "big")
            pos = 34
            pos += 1 + body[pos]
            if pos + 3 > len(body):
                return found
            cipher = int.from_bytes(body[pos:pos + 2], "big")
            exts = _extensions(body, pos + 3)
            negotiated = version
            for etype, edata in exts:
                if etype == 43 and len(edata) == 2:  # supported_versions: TLS 1.3 says its version here
                    negotiated = int.from_bytes(edata, "big")
            info.version = TLS_VERSIONS.get(negotiated, hex(negotiated))
            suite = ssl_ciphersuites.BY_CODE.get(cipher)
            info.cipher = suite.name if suite is not None else hex(cipher)
            ja3s = f"{version},{cipher},{'-'.join(str(e) for e, _ in exts)}"
            info.ja3s = hashlib.md5(ja3s.encode(), usedforsecurity=False).hexdigest()
            info.server_hello = found = True
        elif htype == 11 and len(body) > 6 and info.cert_sha1 is None:  # Certificate (TLS <= 1.2: in clear)
            n = int.from_bytes(body[3:6], "big")
            if 0 < n <= len(body) - 6:
                info.cert_sha1 = hashlib.sha1(body[6:6 + n], usedforsecurity=False).hexdigest()
    return found
