"""Techniques that live on the wire: reconnaissance against public hosts, command-and-control
beacons (HTTPS, HTTP, DNS, non-standard ports) with jitter, and exfiltration dripped in
chunks over days (over C2, over a separate HTTPS or HTTP server, to cloud storage).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING

from aptwatch.simulate import winlog
from aptwatch.simulate.attack import AttackCtx, Foothold
from aptwatch.simulate.events import Truth
from aptwatch.simulate.org import Host
from aptwatch.simulate.profiles import EXFIL, RECON, Step
from aptwatch.simulate.rand import Rng
from aptwatch.simulate.world import World, lookup

if TYPE_CHECKING:
    from aptwatch.simulate.campaign import CampaignRunner

Emitter = Callable[[AttackCtx, float], None]

SCANNER_UA = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
NUCLEI_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.45"
VULN_PATHS = ("/aspnet_client/", "/owa/auth/logon.aspx", "/ecp/default.flt", "/autodiscover/autodiscover.json",
              "/Telerik.Web.UI.WebResource.axd?type=rau", "/api/v1/users", "/web.config", "/trace.axd",
              "/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession",
              "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", "/_vti_bin/_vti_aut/author.dll", "/iisstart.htm",
              "/global-protect/login.esp", "/vpn/../vpns/cfg/smb.conf", "/Orion/Login.aspx")
WORDLIST = ("admin", "backup", "old", "test", "dev", "api", "uploads", "files", "images", "js", "css", "includes",
            "config", "db", "sql", "portal", "login", "staff", "intranet", "temp", "tmp", "private", "data", "logs",
            "cgi-bin", "scripts", "bin", "wwwroot", "archive", "download", "webdav", "owa", "exchange", "hr", "it")
SITE_PAGES = ("/", "/about-us", "/about-us/leadership", "/about-us/board", "/careers", "/careers/open-positions",
              "/contact", "/news", "/news/press-releases", "/investors", "/partners", "/team", "/locations",
              "/sitemap.xml", "/robots.txt", "/privacy", "/suppliers", "/events")


def _public_hosts(ctx: AttackCtx) -> list[Host]:
    pub = [h for h in ctx.w.org.hosts if h.public]
    return pub or [ctx.host]


def recon_scan(ctx: AttackCtx, t: float) -> None:
    """T1595 / T1595.001 / T1595.002: port sweep and vulnerability probes from attacker infrastructure,
    over a few sessions on consecutive days."""
    sessions = ctx.rng.randint(2, 4)
    for k in range(sessions):
        when = t + k * ctx.rng.uniform(6 * 3600, 30 * 3600)
        ctx.w.schedule(when, _scan_session(ctx.camp, ctx.truth, ctx.step), ctx.rng)


def _scan_session(camp: CampaignRunner, truth: Truth, step: Step) -> Callable[[World, Rng, float], None]:
    def run(w: World, rng: Rng, t: float) -> None:
        src = camp.recon_ip
        tt = t
        with w.sink.labelled(truth):
            for host in [h for h in w.org.hosts if h.public]:
                for port in (21, 22, 25, 80, 443, 445, 1433, 3389, 5985, 8080, 8443):
                    open_ = port in ((80, 443) if host.role == "web" else (22,))
                    w.net.conn(w.sink, tt, rng, src, host.ip, port, state="SF" if open_ else "REJ",
                               duration=0.3 if open_ else 0.0003, ob=0 if not open_ else 120,
                               rb=0 if not open_ else 400, host=host.key)
                    tt += rng.uniform(0.05, 0.6)
                if host.role == "web":
                    paths = WORDLIST if step.technique == "T1595.003" else VULN_PATHS
                    for path in rng.sample(paths, min(len(paths), rng.randint(8, 20))):
                        p = "/" + path + "/" if step.technique == "T1595.003" else path
                        w.net.http(w.sink, tt, rng, src, host.ip, host.ip, p, user_agent=NUCLEI_UA,
                                   status=rng.choice((404, 404, 404, 403, 200)), resp_len=rng.randint(1200, 5000),
                                   host=host.key)
                        tt += rng.uniform(0.1, 2.0)
    return run


def recon_crawl(ctx: AttackCtx, t: float) -> None:
    """T1591 / T1594 / T1589 / T1592 / T1590: reading the organisation's public web site."""
    web = next((h for h in ctx.w.org.hosts if h.role == "web"), None)
    if web is None:
        return
    site = f"www.{ctx.w.org.domain.split('.', 1)[1]}"
    tt = t
    # TLS: Zeek sees one connection per page, not the path
    for _page in ctx.rng.sample(SITE_PAGES, ctx.rng.randint(8, len(SITE_PAGES))):
        ctx.w.net.https(ctx.w.sink, tt, ctx.rng, ctx.camp.recon_ip, web.ip, site, ctx.rng.randint(400, 900),
                        ctx.rng.randint(9000, 200_000), ctx.rng.uniform(0.2, 2), host=web.key)
        tt += ctx.rng.uniform(3, 90)


def no_telemetry(ctx: AttackCtx, t: float) -> None:
    """Resource development and similar: nothing the victim's sensors can see."""


# ------------------------------------------------------------------------------------------
# Command and control
# ------------------------------------------------------------------------------------------
def start_beacon(ctx: AttackCtx, t: float) -> None:
    """T1071.001 / T1071.004 / T1573 / T1571 / T1090: the implant calls home; beacons continue
    from this foothold for the rest of the simulation."""
    fh = ctx.foothold
    if fh is None or fh.proc is None:
        ctx.actor(t)
        fh = ctx.foothold
    assert fh is not None
    _emit_beacon(ctx.w, ctx.rng, t, ctx.camp, fh, first=True)
    fh.beacon = True
    plan_beacons(ctx.w, ctx.camp, fh, t + 60, t - t % 86400 + 86400.0,
                 lambda tt, fn, r: ctx.w.schedule(tt, fn, r), ctx.rng)


def plan_beacons(w: World, camp: CampaignRunner, fh: Foothold, t0: float, t1: float,
                 add: Callable[[float, Callable[[World, Rng, float], None], Rng], None], rng: Rng) -> None:
    """Schedule the beacons of one foothold between t0 and t1 (jittered interval)."""
    tool = camp.profile.tooling
    t = t0 + rng.uniform(0, tool.beacon_interval)
    while t < t1:
        add(t, _beacon_action(camp, fh), rng)
        t += max(20.0, rng.jitter(tool.beacon_interval, tool.beacon_jitter))


def c2_step(camp: CampaignRunner) -> Step:
    tool = camp.profile.tooling
    tech = "T1071.004" if tool.c2_protocol == "dns" else ("T1571" if tool.c2_port not in (80, 443) else "T1071.001")
    return Step(tech, "TA0011", "C2 beacon")


def _beacon_action(camp: CampaignRunner, fh: Foothold) -> Callable[[World, Rng, float], None]:
    def run(w: World, rng: Rng, t: float) -> None:
        step = c2_step(camp)
        truth = camp.truth(step, camp.recurring_stage(t))
        if not camp.alive(w, fh):
            if fh.needs_session:
                return
            camp.start_implant(w, rng, t, fh, truth)  # persistence restarted it (reboot)
        with w.sink.labelled(truth):
            _emit_beacon(w, rng, t + 0.5, camp, fh)
    return run


def _emit_beacon(w: World, rng: Rng, t: float, camp: CampaignRunner, fh: Foothold, first: bool = False,
                 up: int = 0) -> None:
    tool = camp.profile.tooling
    host = fh.host
    proc = fh.proc
    domain = camp.c2_domains[0] if rng.random() < 0.85 else camp.c2_domains[1]
    ip = camp.c2_ips[0] if domain == camp.c2_domains[0] else camp.c2_ips[1]
    st = w.st(host) if host.os == "windows" else None
    if tool.c2_protocol == "dns":
        label = base64.b32encode(rng.randbytes(18)).decode().rstrip("=").lower()
        q = f"{label[:28]}.{rng.hexstr(6)}.{domain}"
        dc = w.org.dc_for(host)
        w.net.dns(w.sink, t, rng, host.ip, dc.ip, q, qtype="TXT",
                  answers=(rng.b64ish(rng.randint(16, 120)),), ttl=0.0, host=host.key)
        if st is not None and proc is not None:
            winlog.dns_query(w.sink, st, t + 0.01, proc, q, "type:  16 " + rng.b64ish(12) + ";", force=True)
        return
    if first or rng.chance(0.25):
        dc = w.org.dc_for(host)
        w.net.dns(w.sink, t - 0.05, rng, host.ip, dc.ip, domain, answers=(ip,), ttl=300.0, host=host.key)
        if st is not None and proc is not None:
            winlog.dns_query(w.sink, st, t - 0.04, proc, domain, f"::ffff:{ip};", force=True)
    tasking = rng.chance(0.05)
    ob = up or rng.randint(280, 900)
    rb = rng.randint(3000, 60_000) if tasking else rng.randint(90, 420)
    if tool.c2_protocol == "http":
        pat = rng.choice(tool.uri_patterns)
        uri = pat.format(r=base64.urlsafe_b64encode(rng.randbytes(12)).decode().rstrip("="), r2=rng.randint(1, 9))
        uid, sport = w.net.conn(w.sink, t, rng, host.ip, ip, tool.c2_port, service="http",
                                duration=rng.uniform(0.1, 1.2), ob=ob + 300, rb=rb + 250, host=host.key)
        w.net.http(w.sink, t, rng, host.ip, ip, domain, uri, method="POST" if up else "GET",
                   user_agent=tool.user_agent, req_len=up, resp_len=rb, mime="text/html", uid=uid, sport=sport,
                   conn=False, host=host.key)
    else:
        uid, sport = w.net.https(w.sink, t, rng, host.ip, ip, domain, ob, rb,
                                 rng.uniform(0.2, 1.5) + up / 2_000_000, dport=tool.c2_port, version="TLSv12",
                                 cert_fp=_cert_fp(camp), host=host.key)
    if st is not None and proc is not None:
        winlog.net_connect(w.sink, st, t, proc, host.ip, sport, ip, tool.c2_port)


def _cert_fp(camp: CampaignRunner) -> str:
    import hashlib

    return hashlib.sha256(f"{camp.id}:cert".encode()).hexdigest()


# ------------------------------------------------------------------------------------------
# Exfiltration: a drip of chunks over days
# ------------------------------------------------------------------------------------------
def exfiltrate(ctx: AttackCtx, t: float) -> None:
    """T1041 / T1048 / T1048.002 / T1048.003 / T1567 / T1567.002 / T1030 / T1029: the staged archive
    leaves in chunks spread over the profile's exfiltration window, during working hours."""
    camp = ctx.camp
    tool = camp.profile.tooling
    host, size = ctx.host, 0
    if camp.archive is not None:
        host, _, size = camp.archive
    if size <= 0:
        size = ctx.rng.randint(150, 900) * 1_000_000
    span = max(3600.0, camp.exfil_span)
    sent = 0
    tt = t
    k = 0
    while sent < size:
        chunk = min(size - sent, int(ctx.rng.uniform(*tool.exfil_chunk_mb) * 1_000_000))
        ctx.w.schedule(tt, _exfil_chunk(camp, ctx.truth, ctx.step, host, chunk, k), Rng(ctx.w.cfg.seed, camp.id,
                                                                                       "exfil", k))
        sent += chunk
        k += 1
        tt += max(600.0, ctx.rng.jitter(span * chunk / size, 0.5))
    camp.exfil_bytes += size


def _exfil_chunk(camp: CampaignRunner, truth: Truth, step: Step, host: Host, size: int,
                 k: int) -> Callable[[World, Rng, float], None]:
    def run(w: World, rng: Rng, t: float) -> None:
        fh = camp.footholds.get(host.idx)
        if fh is None:
            return
        if not camp.alive(w, fh):
            if fh.needs_session:
                w.schedule(t + rng.uniform(3600, 4 * 3600), run, rng)  # wait for the victim to log on
                return
            camp.start_implant(w, rng, t, fh, camp.truth(c2_step(camp), camp.recurring_stage(t)))
        with w.sink.labelled(truth):
            _emit_chunk(w, rng, t, camp, step, fh, size, k)
    return run


def _emit_chunk(w: World, rng: Rng, t: float, camp: CampaignRunner, step: Step, fh: Foothold, size: int,
                k: int) -> None:
    tech = step.technique
    host = fh.host
    st = w.st(host) if host.os == "windows" else None
    proc = fh.proc
    if tech in ("T1041", "T1030", "T1029", "T1020", "T1001", "T1132"):
        _emit_beacon(w, rng, t, camp, fh, up=size)
        return
    if tech.startswith("T1567"):
        domain = rng.choice(("content.dropboxapi.com", "mega.nz", "api.onedrive.com"))
        ip = lookup(w, rng, t, host, proc, domain)
        uid, sport = w.net.https(w.sink, t + 0.05, rng, host.ip, ip, domain, size + 3000, rng.randint(400, 2000),
                                 size / rng.uniform(0.5e6, 3e6), host=host.key)
    elif tech == "T1048.003":
        domain = camp.exfil_domain
        ip = lookup(w, rng, t, host, proc, domain, force_sysmon=True)
        uid = w.net.http(w.sink, t + 0.05, rng, host.ip, ip, domain, f"/upload.php?id={rng.hexstr(8)}&part={k}",
                         method="POST", user_agent=camp.profile.tooling.user_agent, req_len=size,
                         resp_len=rng.randint(20, 200), mime="text/plain", duration=size / rng.uniform(0.5e6, 3e6),
                         host=host.key)
        sport = 0
    else:
        domain = camp.exfil_domain
        ip = lookup(w, rng, t, host, proc, domain, force_sysmon=True)
        uid, sport = w.net.https(w.sink, t + 0.05, rng, host.ip, ip, domain, size + 3000, rng.randint(400, 2000),
                                 size / rng.uniform(0.5e6, 3e6), version="TLSv12", host=host.key)
    del uid
    if st is not None and proc is not None and sport:
        winlog.net_connect(w.sink, st, t + 0.05, proc, host.ip, sport, ip, 443, force=True)


def is_exfil(step: Step) -> bool:
    return step.stage == EXFIL and (step.technique.startswith(("T1041", "T1048", "T1567", "T1030", "T1029",
                                                               "T1020", "T1537", "T1011", "T1052")))


def is_recon(step: Step) -> bool:
    return step.stage == RECON


EMITTERS: dict[str, Emitter] = {
    "T1595": recon_scan, "T1595.001": recon_scan, "T1595.002": recon_scan, "T1595.003": recon_scan,
    "T1591": recon_crawl, "T1594": recon_crawl, "T1589": recon_crawl, "T1589.002": recon_crawl,
    "T1592": recon_crawl, "T1590": recon_crawl, "T1593": recon_crawl, "T1596": recon_scan, "T1598": recon_crawl,
    "T1583": no_telemetry, "T1584": no_telemetry, "T1585": no_telemetry, "T1586": no_telemetry,
    "T1587": no_telemetry, "T1588": no_telemetry, "T1608": no_telemetry,
    "T1071": start_beacon, "T1071.001": start_beacon, "T1071.004": start_beacon, "T1573": start_beacon,
    "T1573.001": start_beacon, "T1573.002": start_beacon, "T1571": start_beacon, "T1090": start_beacon,
    "T1102": start_beacon, "T1008": start_beacon, "T1132.001": start_beacon,
    "T1041": exfiltrate, "T1048": exfiltrate, "T1048.001": exfiltrate, "T1048.002": exfiltrate,
    "T1048.003": exfiltrate, "T1567": exfiltrate, "T1567.002": exfiltrate, "T1030": exfiltrate,
    "T1029": exfiltrate, "T1020": exfiltrate, "T1537": exfiltrate,
}
