"""The running world every activity acts on, and the composite actions benign users,
administrators and attackers share: name lookups, web requests, Kerberos tickets, SMB
sessions, remote logons. One action emits every record it causes on every host and in
every log (the client's Sysmon, the DC's Kerberos audit, the server's logon and share audit,
Zeek's conn/dns/ssl/smb/kerberos records), so the logs agree with each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aptwatch.simulate import winlog
from aptwatch.simulate.config import SimulationConfig
from aptwatch.simulate.events import Sink
from aptwatch.simulate.netlog import Net
from aptwatch.simulate.org import Account, Host, Org, User
from aptwatch.simulate.rand import Rng
from aptwatch.simulate.winlog import Proc, WinState

#: an activity: run at its start time with its own random stream
Activity = Callable[["World", Rng, float], None]


@dataclass
class LinuxState:
    """What a Linux host remembers: its PID counter and sshd/session counters."""

    host: Host
    pid: int = 1200
    session: int = 1000

    def new_pid(self, rng: Rng) -> int:
        self.pid += rng.randint(3, 400)
        if self.pid > 4_000_000:
            self.pid = 1200
        return self.pid


@dataclass
class World:
    cfg: SimulationConfig
    org: Org
    net: Net
    sink: Sink
    win: dict[int, WinState]
    lin: dict[int, LinuxState]
    domain_guid: str
    #: scheduled follow-ups: (time, activity, rng) added by activities for later (engine drains)
    later: list[tuple[float, Activity, Rng]] = field(default_factory=list)
    #: per host: what it still has cached (DNS answers, Kerberos service tickets) -> expiry time
    caches: dict[int, dict[str, float]] = field(default_factory=dict)

    def cached(self, host: Host, key: str, t: float, lifetime: float) -> bool:
        """True when `host` still holds `key` at time t; otherwise remember it until t + lifetime."""
        cache = self.caches.setdefault(host.idx, {})
        exp = cache.get(key)
        if exp is not None and exp > t:
            return True
        if len(cache) > 512:  # keep it small: forget what has expired
            for k in [k for k, e in cache.items() if e <= t]:
                del cache[k]
        cache[key] = t + lifetime
        return False

    @property
    def realm(self) -> str:
        return self.org.domain.upper()

    @property
    def krbtgt_sid(self) -> str:
        return f"{self.org.domain_sid}-502"

    def st(self, host: Host) -> WinState:
        return self.win[host.idx]

    def schedule(self, t: float, activity: Activity, rng: Rng) -> None:
        """Run `activity` at time t (used by activities that start others later)."""
        self.later.append((t, activity, rng))


def resolve_ip(w: World, name: str) -> str:
    lname = name.lower()
    if lname.endswith(w.org.domain):
        h = w.org.host_by_key(lname.split(".", 1)[0])
        if h is not None:
            return h.ip
    return w.org.internet.ip(lname)


def lookup(w: World, rng: Rng, t: float, host: Host, proc: Proc | None, name: str, *, qtype: str = "A",
           force_sysmon: bool = False) -> str:
    """`host` resolves `name` through its DC: dns.log (+ Sysmon 22 when the config records it),
    unless the answer is still in its DNS client cache."""
    ip = resolve_ip(w, name)
    dc = w.org.dc_for(host)
    internal = name.lower().endswith(w.org.domain)
    ttl = 600.0 if internal else float(rng.choice((60, 300, 300, 3600)))
    if w.cached(host, "dns:" + name, t, ttl):
        return ip
    w.net.dns(w.sink, t, rng, host.ip, dc.ip, name, qtype=qtype, answers=(ip,), ttl=ttl, host=host.key)
    if proc is not None and host.os == "windows":
        winlog.dns_query(w.sink, w.st(host), t + 0.002, proc, name, f"::ffff:{ip};", force=force_sysmon)
    return ip


def https(w: World, rng: Rng, t: float, host: Host, proc: Proc | None, domain: str, ob: int, rb: int,
          duration: float, *, resolve: bool = True, ip: str | None = None, dport: int = 443,
          cert_fp: str | None = None, force_sysmon: bool = False) -> tuple[str, int]:
    """`proc` on `host` opens a TLS connection to `domain`."""
    dst = ip or (lookup(w, rng, t, host, proc, domain) if resolve else resolve_ip(w, domain))
    t1 = t + rng.uniform(0.01, 0.08)
    uid, sport = w.net.https(w.sink, t1, rng, host.ip, dst, domain, ob, rb, duration, dport=dport, cert_fp=cert_fp,
                             host=host.key)
    if proc is not None and host.os == "windows":
        winlog.net_connect(w.sink, w.st(host), t1, proc, host.ip, sport, dst, dport, force=force_sysmon)
    return uid, sport


def service_ticket(w: World, rng: Rng, t: float, client: Host, user_name: str, spn: str, service_account: str,
                   service_sid: str, enc: str = "0x12") -> None:
    """A TGS for `spn`: 4769 on the client's DC and a kerberos.log TGS record - unless the client
    still holds a ticket for it (tickets live 10 hours)."""
    if w.cached(client, f"tgs:{user_name}:{spn}:{enc}", t, 36000.0):
        return
    dc = w.org.dc_for(client)
    sport = rng.port()
    winlog.kerberos_tgs(w.sink, w.st(dc), t + 0.004, user_name, w.realm, service_account, service_sid, client.ip,
                        sport, enc=enc)
    cipher = "rc4-hmac" if enc == "0x17" else "aes256-cts-hmac-sha1-96"
    w.net.kerberos(w.sink, t, rng, client.ip, dc.ip, "TGS", f"{user_name}/{w.realm}", spn, cipher=cipher,
                   host=client.key)


def tgt(w: World, rng: Rng, t: float, client: Host, user: User | Account, enc: str = "0x12") -> None:
    """An AS exchange (TGT): 4768 on the DC and a kerberos.log AS record."""
    dc = w.org.dc_for(client)
    name = user.sam if isinstance(user, User) else user.name
    winlog.kerberos_tgt(w.sink, w.st(dc), t + 0.004, user, w.realm.lower(), client.ip, rng.port(), enc=enc,
                        krbtgt_sid=w.krbtgt_sid)
    w.net.kerberos(w.sink, t, rng, client.ip, dc.ip, "AS", f"{name}/{w.realm}", f"krbtgt/{w.realm}",
                   host=client.key)


def network_logon(w: World, rng: Rng, t: float, client: Host, server: Host, user: User | Account, *,
                  auth: str = "Kerberos", sport: int = 0, spn: str | None = None,
                  privileged: bool | None = None) -> int:
    """`user` on `client` authenticates to `server` (type 3 logon). Returns the server's logon id."""
    acct = user.account if isinstance(user, User) else user
    name = acct.name
    if auth == "Kerberos":
        service_ticket(w, rng, t - 0.01, client, name, spn or f"cifs/{server.fqdn.lower()}", server.name + "$",
                       server.sid)
    else:
        dc = w.org.dc_for(server)
        winlog.ntlm_validate(w.sink, w.st(dc), t, name, client.name)
    priv = privileged if privileged is not None else (isinstance(user, User) and user.privileged)
    if server.os != "windows":
        return 0
    return winlog.logon(w.sink, w.st(server), t, acct, 3, ip=client.ip, port=str(sport or rng.port()), auth=auth,
                        workstation=client.name if auth == "NTLM" else "-", privileged=priv)


def smb_session(w: World, rng: Rng, t: float, client: Host, server: Host, user: User | Account, share: str,
                local_path: str, files: list[tuple[str, int, bool]], duration: float, *, auth: str = "Kerberos",
                audit_files: bool = True, ob: int = 0, rb: int = 0) -> tuple[str, int, int]:
    """`user` on `client` opens `\\\\server\\share` and opens/reads/writes `files` (name, size, write).

    Emits the client's ticket request, the server's 4624/5140/5145/4634 and Zeek conn, smb_mapping,
    smb_files and files records. Returns (uid, source port, server logon id).
    """
    acct = user.account if isinstance(user, User) else user
    written = sum(s for _, s, wr in files if wr)
    read = sum(s for _, s, wr in files if not wr)
    uid, sport = w.net.conn(w.sink, t, rng, client.ip, server.ip, 445, service="gssapi,smb", duration=duration,
                            ob=ob or written + 2000 + 600 * len(files), rb=rb or read + 1800 + 500 * len(files),
                            host=client.key)
    lid = network_logon(w, rng, t + 0.02, client, server, user, auth=auth, sport=sport)
    pipe = share.upper() == "IPC$"
    w.net.smb_mapping(w.sink, t + 0.03, uid, client.ip, sport, server.ip, f"\\\\{server.name}\\{share}",
                      "PIPE" if pipe else "DISK", host=client.key)
    if server.os == "windows":
        sst = w.st(server)
        winlog.share_access(w.sink, sst, t + 0.03, acct, lid, client.ip, sport, share, local_path)
        for i, (name, size, write) in enumerate(files):
            ft = t + 0.05 + i * min(duration / max(len(files), 1), 2.0)
            if audit_files:
                winlog.share_access(w.sink, sst, ft, acct, lid, client.ip, sport, share, local_path, name,
                                    "0x2" if write else "0x120089")
            w.net.smb_file(w.sink, ft + 0.01, rng, uid, client.ip, sport, server.ip, f"\\\\{server.name}\\{share}",
                           name, size, write=write, host=client.key,
                           mime="application/x-dosexec" if name.lower().endswith((".exe", ".dll")) else
                           "application/octet-stream")
        winlog.logoff(w.sink, sst, t + duration + 1.0, acct, lid, 3)
    return uid, sport, lid


def run_tree(w: World, rng: Rng, t: float, st: WinState, parent: Proc,
             chain: list[tuple[str, str]], gap: tuple[float, float] = (0.05, 0.8), end: bool = True) -> list[Proc]:
    """Spawn a chain of processes (image, command line), each the child of the previous one."""
    procs: list[Proc] = []
    cur = parent
    for image, cmd in chain:
        t += rng.uniform(*gap)
        cur = winlog.spawn(w.sink, st, t, cur, image, cmd)
        procs.append(cur)
    if end:
        for p in reversed(procs):
            t += rng.uniform(0.2, 3.0)
            winlog.terminate(w.sink, st, t, p)
    return procs
