"""Zeek records, linked like Zeek links them: one `uid` per connection shared by conn.log and
the protocol logs (dns, http, ssl, smb_*, kerberos), file ids (`fuid`) shared by files.log,
http.log and smb_files.log.

Values are formatted as Zeek's ASCII writer does: `-` unset, `(empty)` empty, `T`/`F`
booleans, 6-decimal times and intervals, `,`-joined sets and vectors, tabs and control
characters escaped as `\\xNN`. The sensor taps the core switch and the Internet edge
(`Org.sensor_sees`): two machines of the same workstation subnet talk unseen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aptwatch.simulate.org import Org
from aptwatch.simulate.rand import FileHashes, Rng

if TYPE_CHECKING:
    from aptwatch.simulate.events import Sink

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33}
RCODES = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}


def esc(s: str) -> str:
    """Zeek ASCII escaping of a string value (tabs, newlines, control characters)."""
    if not s:
        return "(empty)"
    if s.isprintable() and "\t" not in s:
        return s
    return "".join(c if c.isprintable() and c != "\t" else f"\\x{ord(c):02x}" for c in s)


def b(v: bool) -> str:
    return "T" if v else "F"


def _pkts(n: int) -> int:
    return max(1, n // 1380 + 1)


class Net:
    """Builds Zeek records for one organisation."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def _local(self, ip: str) -> str:
        return b(self.org.is_internal(ip))

    def conn(self, sink: Sink, t: float, rng: Rng, src: str, dst: str, dport: int, *, proto: str = "tcp",
             service: str = "-", duration: float | None = None, ob: int = 0, rb: int = 0, state: str = "SF",
             sport: int | None = None, host: str = "", uid: str | None = None) -> tuple[str, int]:
        """conn.log. Returns (uid, source port). Nothing is written when the sensor cannot see it."""
        uid = uid or rng.zeek_uid()
        sport = sport or rng.port()
        if not self.org.sensor_sees(src, dst):
            return uid, sport
        if proto == "udp":
            hist = "Dd" if rb else "D"
            op, rp = 1, (1 if rb else 0)
            oip, rip = ob + 28, (rb + 28 if rb else 0)
        elif state == "S0":
            hist, op, rp, oip, rip, ob, rb = "S", 2, 0, 104, 0, 0, 0
        elif state == "REJ":
            hist, op, rp, oip, rip, ob, rb = "Sr", 1, 1, 52, 40, 0, 0
        elif state == "RSTR":
            hist = "ShADadr"
            op, rp = _pkts(ob) + 2, _pkts(rb) + 2
            oip, rip = ob + 40 * op, rb + 40 * rp
        else:
            hist = "ShADadFf" if rb else "ShADFf"
            op, rp = _pkts(ob) + 3, _pkts(rb) + 2
            oip, rip = ob + 52 * op, rb + 52 * rp
        dur = "-" if duration is None else f"{duration:.6f}"
        if state in ("S0", "REJ"):
            obs, rbs = "0", "0"
            dur = "-" if state == "S0" else f"{duration or 0.000311:.6f}"
        else:
            obs, rbs = str(ob), str(rb)
        sink.zeek(t, "conn", (uid, src, str(sport), dst, str(dport), proto, service, dur, obs, rbs, state,
                              self._local(src), self._local(dst), "0", hist, str(op), str(oip), str(rp), str(rip),
                              "-"), host)
        return uid, sport

    def dns(self, sink: Sink, t: float, rng: Rng, client: str, server: str, query: str, *, qtype: str = "A",
            answers: tuple[str, ...] = (), ttl: float = 300.0, rcode: str = "NOERROR", host: str = "") -> str:
        """A DNS query and its answer: conn.log (udp) + dns.log."""
        rtt = rng.uniform(0.0004, 0.03) if server.startswith("10.") else rng.uniform(0.008, 0.09)
        resp = 12 + len(query) + 6 + sum(16 + len(a) for a in answers) if rcode != "SERVFAIL" else 0
        uid, sport = self.conn(sink, t, rng, client, server, 53, proto="udp", service="dns", duration=rtt,
                               ob=len(query) + 18, rb=resp, host=host)
        if not self.org.sensor_sees(client, server):
            return uid
        ans = ",".join(esc(a) for a in answers) if answers else "-"
        ttls = ",".join(f"{ttl:.6f}" for _ in answers) if answers else "-"
        rc = RCODES.get(rcode, 0)
        sink.zeek(t, "dns", (uid, client, str(sport), server, "53", "udp", str(rng.randint(1, 65535)),
                             f"{rtt:.6f}", esc(query), "1", "C_INTERNET", str(QTYPES.get(qtype, 1)), qtype, str(rc),
                             rcode, "F", "F", "T", "T", "0", ans, ttls, "F"), host)
        return uid

    def ssl(self, sink: Sink, t: float, rng: Rng, uid: str, src: str, sport: int, dst: str, dport: int,
            server_name: str, *, version: str = "TLSv13", cipher: str = "TLS_AES_256_GCM_SHA384",
            cert_fp: str | None = None, host: str = "") -> None:
        if not self.org.sensor_sees(src, dst):
            return
        history = "CsiI" if version == "TLSv13" else "CsxknGIi"
        fps = cert_fp or "-"
        sink.zeek(t + 0.03, "ssl", (uid, src, str(sport), dst, str(dport), version, cipher, "x25519",
                                    esc(server_name) if server_name else "-", "F", "-",
                                    "h2" if version == "TLSv13" else "http/1.1", "T", history, fps, "(empty)",
                                    "-" if version == "TLSv13" else "T"), host)

    def https(self, sink: Sink, t: float, rng: Rng, src: str, dst: str, server_name: str, ob: int, rb: int,
              duration: float, *, dport: int = 443, version: str = "TLSv13", cert_fp: str | None = None,
              host: str = "", state: str = "SF") -> tuple[str, int]:
        """A TLS connection: conn.log + ssl.log."""
        uid, sport = self.conn(sink, t, rng, src, dst, dport, service="ssl", duration=duration, ob=ob, rb=rb,
                               host=host, state=state)
        self.ssl(sink, t, rng, uid, src, sport, dst, dport, server_name, version=version, cert_fp=cert_fp, host=host)
        return uid, sport

    def http(self, sink: Sink, t: float, rng: Rng, src: str, dst: str, host_header: str, uri: str, *,
             method: str = "GET", user_agent: str = "-", status: int = 200, req_len: int = 0, resp_len: int = 0,
             mime: str = "text/html", filename: str | None = None, hashes: FileHashes | None = None,
             dport: int = 80, duration: float | None = None, referrer: str = "-", host: str = "",
             uid: str | None = None, sport: int | None = None, depth: int = 1, conn: bool = True) -> str:
        """An HTTP transaction: conn.log (unless `conn` is False: a later request on the same
        connection), http.log, and files.log for a response or request body."""
        dur = duration if duration is not None else rng.uniform(0.05, 0.6) + resp_len / 4_000_000
        if conn:
            uid, sport = self.conn(sink, t, rng, src, dst, dport, service="http", duration=dur,
                                   ob=req_len + 180 + len(uri) + len(user_agent), rb=resp_len + 240, host=host,
                                   uid=uid, sport=sport)
        assert uid is not None and sport is not None
        if not self.org.sensor_sees(src, dst):
            return uid
        status_msg = {200: "OK", 204: "No Content", 206: "Partial Content", 301: "Moved Permanently",
                      302: "Found", 304: "Not Modified", 401: "Unauthorized", 403: "Forbidden",
                      404: "Not Found", 500: "Internal Server Error"}.get(status, "OK")
        resp_fuid, orig_fuid = "-", "-"
        if resp_len > 0:
            resp_fuid = rng.zeek_uid("F")
            self.files(sink, t + dur * 0.5, rng, resp_fuid, uid, src, sport, dst, dport, "HTTP", mime, filename,
                       resp_len, hashes, is_orig=False, host=host)
        if req_len > 0 and method in ("POST", "PUT"):
            orig_fuid = rng.zeek_uid("F")
            self.files(sink, t + 0.01, rng, orig_fuid, uid, src, sport, dst, dport, "HTTP",
                       "application/octet-stream", None, req_len, None, is_orig=True, host=host)
        sink.zeek(t, "http", (uid, src, str(sport), dst, str(dport), str(depth), method, esc(host_header), esc(uri),
                              esc(referrer) if referrer != "-" else "-", "1.1", esc(user_agent) if user_agent != "-"
                              else "-", "-", str(req_len), str(resp_len), str(status), status_msg, "-", "-",
                              "(empty)", "-", "-", "-", orig_fuid, "-",
                              "application/octet-stream" if orig_fuid != "-" else "-", resp_fuid,
                              esc(filename) if filename and resp_fuid != "-" else "-",
                              mime if resp_fuid != "-" else "-"), host)
        return uid

    def files(self, sink: Sink, t: float, rng: Rng, fuid: str, uid: str, src: str, sport: int, dst: str, dport: int,
              source: str, mime: str, filename: str | None, size: int, hashes: FileHashes | None, *,
              is_orig: bool, host: str = "") -> None:
        analyzers = "MD5,SHA1" if hashes else "(empty)"
        pe = mime == "application/x-dosexec"
        if pe:
            analyzers = "PE,MD5,SHA1" if hashes else "PE"
        sink.zeek(t, "files", (fuid, uid, src, str(sport), dst, str(dport), source, "0", analyzers, mime,
                               esc(filename) if filename else "-", f"{rng.uniform(0.0, 0.4):.6f}",
                               self._local(src) if is_orig else self._local(dst), b(is_orig), str(size), str(size),
                               "0", "0", "F", "-", hashes.md5 if hashes else "-", hashes.sha1 if hashes else "-",
                               "-", "-", "-", "-"), host)

    def smb_mapping(self, sink: Sink, t: float, uid: str, src: str, sport: int, dst: str, path: str,
                    share_type: str = "DISK", host: str = "") -> None:
        if not self.org.sensor_sees(src, dst):
            return
        sink.zeek(t, "smb_mapping", (uid, src, str(sport), dst, "445", esc(path), "-", "-", share_type), host)

    def smb_file(self, sink: Sink, t: float, rng: Rng, uid: str, src: str, sport: int, dst: str, share_path: str,
                 name: str, size: int, *, write: bool = False, hashes: FileHashes | None = None,
                 mime: str = "application/octet-stream", host: str = "", created: float | None = None) -> None:
        """smb_files.log (FILE_OPEN, the default logged action) and files.log for the transfer."""
        if not self.org.sensor_sees(src, dst):
            return
        fuid = rng.zeek_uid("F")
        c = created if created is not None else t - rng.uniform(86400, 86400 * 400)
        ts = f"{c:.6f}"
        sink.zeek(t, "smb_files", (uid, src, str(sport), dst, "445", fuid, "SMB::FILE_OPEN", esc(share_path),
                                   esc(name), str(size), "-", f"{t:.6f}" if write else ts, f"{t:.6f}", ts,
                                   f"{t:.6f}" if write else ts), host)
        if size > 0:
            self.files(sink, t + 0.01, rng, fuid, uid, src, sport, dst, 445, "SMB", mime, name, size, hashes,
                       is_orig=write, host=host)

    def kerberos(self, sink: Sink, t: float, rng: Rng, src: str, dc: str, request: str, client: str, service: str,
                 *, success: bool = True, error: str = "-", cipher: str = "aes256-cts-hmac-sha1-96",
                 host: str = "") -> str:
        """A Kerberos exchange: conn.log (tcp/88) + kerberos.log."""
        uid, sport = self.conn(sink, t, rng, src, dc, 88, service="krb_tcp", duration=rng.uniform(0.001, 0.01),
                               ob=rng.randint(1300, 1900), rb=rng.randint(1400, 1700) if success else 180, host=host)
        if not self.org.sensor_sees(src, dc):
            return uid
        till = t + 36000
        sink.zeek(t, "kerberos", (uid, src, str(sport), dc, "88", request, esc(client), esc(service), b(success),
                                  error, "-", f"{till:.6f}" if success else "-", cipher if success else "-",
                                  "T" if success else "-", "T" if success else "-", "-", "-", "-", "-"), host)
        return uid
