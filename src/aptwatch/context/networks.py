"""Internal address ranges and IP address normalisation.

Which addresses are "ours" decides what address context learns (only internal addresses map
to hosts) and how imported alerts read direction (an `ET SCAN` from inside is discovery, from
outside reconnaissance). The ranges are configurable per store: `aptwatch ingest
--internal-net CIDR ...` saves them in the store's `meta` table, and every later command uses
them; without configuration the defaults of `IngestSettings.internal_networks` apply (RFC 1918,
RFC 6598 shared space, RFC 4193 unique local, link-local, loopback).

IP strings arrive in many spellings: `::ffff:10.0.0.5` (Sysmon), `fe80:0:0:0:5d91:...`
(Windows) and `fe80::5d91:...` (Zeek) for the same address, `[::1]`, `fe80::1%eth0`.
`normalise_ip` gives one spelling so that the same address from two sources joins.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aptwatch.errors import InputError
from aptwatch.sources.base import IngestSettings

if TYPE_CHECKING:
    from aptwatch.store import Store

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_INTERNAL_NETWORKS: tuple[str, ...] = IngestSettings().internal_networks
#: `meta` key holding the configured ranges (JSON list of CIDR strings)
META_KEY = "internal_networks"


def parse_ip(value: str | None) -> IPAddress | None:
    """An address from a log string, or None when it is not one. IPv4-mapped IPv6 becomes IPv4."""
    if value is None:
        return None
    s = value.strip().strip("[]")
    if not s or s == "-":
        return None
    s = s.split("%", 1)[0]  # zone index (fe80::1%eth0) names an interface, not an address
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def normalise_ip(value: str | None) -> str | None:
    """One spelling per address: compressed lower-case IPv6, dotted IPv4, None when not an address."""
    ip = parse_ip(value)
    return None if ip is None else str(ip)


def is_host_address(ip: IPAddress) -> bool:
    """False for addresses that name no single host: unspecified, loopback, multicast, limited broadcast."""
    if ip.is_unspecified or ip.is_loopback or ip.is_multicast:
        return False
    return not (isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"))


def parse_networks(values: Iterable[str]) -> tuple[str, ...]:
    """Validate CIDR strings (a bare address is a /32 or /128); canonical spelling, order kept, no duplicates.

    Raises:
        InputError: a value is not an address or network.
    """
    out: dict[str, None] = {}
    for v in values:
        try:
            net = ipaddress.ip_network(v.strip(), strict=False)
        except ValueError:
            raise InputError(f"not an IP network: {v!r} (use CIDR, e.g. 10.0.0.0/8)") from None
        out[str(net)] = None
    if not out:
        raise InputError("no internal networks given")
    return tuple(out)


@dataclass(frozen=True)
class InternalNetworks:
    """A set of CIDR ranges counted as internal."""

    cidrs: tuple[str, ...] = DEFAULT_INTERNAL_NETWORKS
    _nets: tuple[IPNetwork, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        canonical = parse_networks(self.cidrs)
        object.__setattr__(self, "cidrs", canonical)
        object.__setattr__(self, "_nets", tuple(ipaddress.ip_network(c) for c in canonical))

    def contains(self, ip: str | IPAddress | None) -> bool:
        """Whether an address (any spelling) lies in one of the ranges."""
        addr = parse_ip(ip) if isinstance(ip, str) or ip is None else ip
        if addr is None:
            return False
        return any(addr.version == n.version and addr in n for n in self._nets)


def configured_networks(store: Store) -> InternalNetworks:
    """The store's configured internal ranges, else the defaults."""
    with store.state.connect(read_only=True) as con:
        row = con.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
    if row is None or not row[0]:
        return InternalNetworks()
    return InternalNetworks(tuple(json.loads(row[0])))


def save_networks(store: Store, networks: InternalNetworks) -> None:
    """Configure the store's internal ranges (the caller holds the writer lock). Address context is
    re-derived with them on its next update."""
    with store.state.connect(read_only=False) as con:
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [META_KEY, json.dumps(list(networks.cidrs))])
