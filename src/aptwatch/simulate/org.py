"""The simulated organisation: Active Directory domain, hosts, users, service accounts,
address plan and the Internet it talks to. Built once from the config and the seed.

Composition for N hosts (documented in docs/simulate.md):
- domain controllers: 1 below 30 hosts, else 2 (DNS servers, KDCs, replicate with each other);
- Windows servers: file server, SQL server, an Internet-facing IIS web server in the DMZ,
  a backup server (nightly backups, offsite copy to cloud storage), a management server
  (SCCM/WSUS), then application servers up to ~8% of N;
- Linux servers: ~4% of N (the first is the SSH bastion exposed to the Internet);
- workstations: the rest, each with a primary user; IT staff have separate `adm-` accounts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from aptwatch.simulate import catalog
from aptwatch.simulate.config import SimulationConfig
from aptwatch.simulate.rand import Rng, derive

Role = Literal["dc", "file", "sql", "web", "backup", "mgmt", "app", "linux", "bastion", "workstation"]


@dataclass(frozen=True)
class Account:
    """A security principal as events show it."""

    name: str
    domain: str
    sid: str

    @property
    def qualified(self) -> str:
        return f"{self.domain}\\{self.name}"


SYSTEM = Account("SYSTEM", "NT AUTHORITY", "S-1-5-18")
LOCAL_SERVICE = Account("LOCAL SERVICE", "NT AUTHORITY", "S-1-5-19")
NETWORK_SERVICE = Account("NETWORK SERVICE", "NT AUTHORITY", "S-1-5-20")
ANONYMOUS = Account("ANONYMOUS LOGON", "NT AUTHORITY", "S-1-5-7")


@dataclass(frozen=True)
class User:
    """A domain account: a person, an IT admin's privileged account, or a service account."""

    sam: str
    display: str
    sid: str
    rid: int
    department: str
    kind: Literal["user", "admin", "service"]
    domain: str
    groups: tuple[str, ...] = ()
    spn: str | None = None

    @property
    def account(self) -> Account:
        return Account(self.sam, self.domain, self.sid)

    @property
    def privileged(self) -> bool:
        return self.kind == "admin" or "Domain Admins" in self.groups


@dataclass
class Host:
    """A machine. `key` is aptwatch's host key (lower-case short name)."""

    idx: int
    name: str
    domain: str
    ip: str
    role: Role
    os: Literal["windows", "linux"]
    sid: str
    machine: str
    boot_suffix: str
    subnet: str
    public: bool = False
    user: User | None = None
    laptop: bool = False

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.domain}"

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def computer_account(self) -> Account:
        return Account(self.name + "$", self.domain.split(".")[0].upper(), self.sid)

    @property
    def is_server(self) -> bool:
        return self.role not in ("workstation",)


@dataclass
class Internet:
    """Names and addresses outside the organisation. Every name resolves to stable addresses."""

    seed: int
    popular: tuple[tuple[str, float], ...]
    long_tail: tuple[str, ...]
    _cache: dict[str, str] = field(default_factory=dict)

    # Public /16s of large clouds, CDNs and ISPs; VPS ranges are shared by small benign
    # SaaS sites and by attackers alike, so "hosted on a VPS" is no giveaway.
    CLOUD: tuple[str, ...] = ("13.107", "20.190", "52.96", "40.126", "142.250", "172.217", "104.16", "151.101",
                              "23.215", "34.120", "35.186", "3.5", "18.66", "185.199", "140.82", "199.232",
                              "157.240", "31.13", "52.113", "20.42", "204.79", "13.69", "216.58", "108.177")
    VPS: tuple[str, ...] = ("45.32", "45.77", "66.42", "104.238", "139.180", "149.28", "155.138", "167.179",
                            "95.179", "5.252", "37.120", "185.141", "194.87", "178.62", "159.89", "68.183",
                            "64.227", "188.166", "46.101", "209.97")

    def ip(self, name: str) -> str:
        """The (stable) address a name resolves to."""
        ip = self._cache.get(name)
        if ip is None:
            h = derive(self.seed, "dns", name)
            pool = self.VPS if name in self.long_tail and h % 3 == 0 else self.CLOUD
            prefix = pool[h % len(pool)]
            ip = f"{prefix}.{(h >> 8) % 254 + 1}.{(h >> 16) % 253 + 2}"
            self._cache[name] = ip
        return ip

    def vps_ip(self, rng: Rng) -> str:
        return f"{rng.choice(self.VPS)}.{rng.randint(1, 254)}.{rng.randint(2, 254)}"

    def random_ip(self, rng: Rng) -> str:
        """A random public address (Internet background: scanners, customers, brute-forcers)."""
        while True:
            a = rng.randint(1, 223)
            if a in (10, 127, 169, 172, 192, 100, 198, 203):
                continue
            return f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


@dataclass
class Org:
    config: SimulationConfig
    domain: str
    netbios: str
    domain_sid: str
    hosts: list[Host]
    users: list[User]
    admins: list[User]
    service_accounts: dict[str, User]
    internet: Internet
    internal_nets: tuple[ipaddress.IPv4Network, ...]
    workstation_nets: tuple[ipaddress.IPv4Network, ...]
    _by_ip: dict[str, Host] = field(default_factory=dict, repr=False)
    _by_key: dict[str, Host] = field(default_factory=dict, repr=False)

    def by_role(self, role: Role) -> list[Host]:
        return [h for h in self.hosts if h.role == role]

    def first(self, role: Role) -> Host | None:
        hs = self.by_role(role)
        return hs[0] if hs else None

    @property
    def dcs(self) -> list[Host]:
        return self.by_role("dc")

    @property
    def workstations(self) -> list[Host]:
        return self.by_role("workstation")

    @property
    def windows_servers(self) -> list[Host]:
        return [h for h in self.hosts if h.os == "windows" and h.role != "workstation"]

    def dc_for(self, host: Host) -> Host:
        """The DC a host talks to (its site's DC)."""
        dcs = self.dcs
        return dcs[host.idx % len(dcs)]

    def is_internal(self, ip: str) -> bool:
        """RFC 1918 (string test: called for every Zeek record)."""
        if ip.startswith(("10.", "192.168.")):
            return True
        if ip.startswith("172."):
            second = ip.split(".", 2)[1]
            return second.isdigit() and 16 <= int(second) <= 31
        return False

    def sensor_sees(self, a: str, b: str) -> bool:
        """The Zeek sensor taps the core and the Internet edge: traffic between two machines
        of the same workstation subnet (10.10.N.0/24) stays on the access switch and is not seen."""
        if a.startswith("10.10.") and b.startswith("10.10."):
            return a.rsplit(".", 1)[0] != b.rsplit(".", 1)[0]
        return True

    def host_by_ip(self, ip: str) -> Host | None:
        if not self._by_ip:
            self._by_ip.update({h.ip: h for h in self.hosts})
        return self._by_ip.get(ip)

    def host_by_key(self, key: str) -> Host | None:
        if not self._by_key:
            self._by_key.update({h.key: h for h in self.hosts})
        return self._by_key.get(key.lower())


def _sid(rng: Rng) -> str:
    return f"S-1-5-21-{rng.randint(1_000_000_000, 4_000_000_000)}-{rng.randint(1_000_000_000, 4_000_000_000)}-" \
           f"{rng.randint(100_000_000, 4_000_000_000)}"


def build_org(config: SimulationConfig) -> Org:
    """The organisation for this config and seed (pure function of both)."""
    rng = Rng(config.seed, "org")
    netbios = config.netbios
    dom_sid = _sid(rng)
    n = config.hosts
    rid = iter(range(1104, 10_000_000))

    n_dc = 1 if n < 30 else 2
    named_servers: list[Role] = ["file", "sql", "web", "backup", "mgmt"]
    groups: tuple[str, ...]
    n_app = max(0, round(n * 0.08) - len(named_servers))
    n_linux = max(1, round(n * 0.04)) if config.linux else 0
    n_ws = n - n_dc - len(named_servers) - n_app - n_linux
    if n_ws < 2:
        n_app = max(0, n_app - (2 - n_ws))
        n_ws = n - n_dc - len(named_servers) - n_app - n_linux
    if n_ws < 2:
        named_servers = ["file", "sql", "web", "backup"]
        n_ws = n - n_dc - len(named_servers) - n_app - n_linux

    hosts: list[Host] = []

    def add(name: str, role: Role, ip: str, subnet: str, os: Literal["windows", "linux"] = "windows",
            public: bool = False) -> Host:
        h = Host(len(hosts), name, config.domain, ip, role, os, f"{dom_sid}-{next(rid)}", rng.hexstr(8),
                 rng.choice(("000000000400", "000000000700", "000000000500", "000000001f01")), subnet, public)
        hosts.append(h)
        return h

    for i in range(n_dc):
        add(f"DC{i + 1:02d}", "dc", f"10.20.0.{10 + i}", "10.20.0.0/24")
    server_names = {"file": "FS01", "sql": "SQL01", "web": "WEB01", "backup": "BKP01", "mgmt": "CM01"}
    for j, role in enumerate(named_servers):
        if role == "web":
            add(server_names[role], role, "172.16.10.20", "172.16.10.0/24", public=True)
        else:
            add(server_names[role], role, f"10.20.1.{20 + j}", "10.20.1.0/24")
    for j in range(n_app):
        add(f"APP{j + 1:02d}", "app", f"10.20.1.{40 + j % 200}", "10.20.1.0/24")
    for j in range(n_linux):
        if j == 0:
            add("bastion01", "bastion", "172.16.10.30", "172.16.10.0/24", "linux", public=True)
        else:
            add(f"lnx{j:02d}", "linux", f"10.20.2.{10 + j % 240}", "10.20.2.0/24", "linux")
    ws_nets: list[ipaddress.IPv4Network] = []
    for j in range(n_ws):
        third, fourth = 10 + j // 200, 20 + j % 200
        net = f"10.10.{third}.0/24"
        if not ws_nets or str(ws_nets[-1]) != net:
            ws_nets.append(ipaddress.IPv4Network(net))
        h = add(f"WS{j + 1:04d}", "workstation", f"10.10.{third}.{fourth}", net)
        h.laptop = rng.chance(0.4)

    # People: one per workstation by default; the first ~4% (min 2) are IT staff.
    workstations = [h for h in hosts if h.role == "workstation"]
    n_users = config.users if config.users is not None else len(workstations)
    n_it = max(2, round(n_users * 0.04))
    users: list[User] = []
    admins: list[User] = []
    seen: set[str] = set()
    for i in range(n_users):
        first, last = rng.choice(catalog.FIRST_NAMES), rng.choice(catalog.LAST_NAMES)
        sam = f"{first[0]}{last}"
        k = 2
        while sam in seen:
            sam = f"{first[0]}{last}{k}"
            k += 1
        seen.add(sam)
        dept = "it" if i < n_it else rng.choice(catalog.DEPARTMENTS)
        r = next(rid)
        users.append(User(sam, f"{first.title()} {last.title()}", f"{dom_sid}-{r}", r, dept, "user",
                          netbios, ("Domain Users",)))
        if i < n_it:
            ar = next(rid)
            groups = ("Domain Users", "Domain Admins") if i < 2 else ("Domain Users", "Server Admins")
            admins.append(User(f"adm-{sam}", f"{first.title()} {last.title()} (admin)", f"{dom_sid}-{ar}", ar,
                               "it", "admin", netbios, groups))
    order = list(range(len(workstations)))
    # IT staff sit at the first workstations; others are spread over the rest.
    for ws_i, user in zip(order, users, strict=False):
        workstations[ws_i].user = user

    services: dict[str, User] = {}
    for sam, desc, spn, groups in (
        ("svc_backup", "Veeam backup service", None, ("Domain Users", "Backup Operators", "Server Admins")),
        ("svc_sql", "SQL Server service", f"MSSQLSvc/sql01.{config.domain}:1433", ("Domain Users",)),
        ("svc_sccm", "SCCM network access", None, ("Domain Users",)),
        ("svc_web", "IIS application pool", f"HTTP/web01.{config.domain}", ("Domain Users",)),
        ("svc_scan", "Vulnerability scanner", None, ("Domain Users", "Server Admins")),
    ):
        r = next(rid)
        services[sam] = User(sam, desc, f"{dom_sid}-{r}", r, "it", "service", netbios, groups, spn)

    # The long tail of the web: sites visited by a few people, a few times.
    tail: list[str] = []
    n_tail = 300 + n * 3
    for _ in range(n_tail):
        name = f"{rng.choice(catalog.WORDS)}{rng.choice(catalog.WORDS)}{rng.choice(catalog.BUSINESS_SUFFIXES)}"
        tail.append(f"www.{name}.{rng.choice(catalog.TLDS)}")
    internet = Internet(config.seed, catalog.WEB_POPULAR, tuple(dict.fromkeys(tail)))

    internal = tuple(ipaddress.IPv4Network(x) for x in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    return Org(config, config.domain, netbios, dom_sid, hosts, users, admins, services, internet, internal,
               tuple(ws_nets))
