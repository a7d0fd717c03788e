"""One host key across sources.

Windows logs say `WS01.corp.example.com`, Zeek says `10.0.0.5`, auth.log says `ws01`. The
`host` column holds a *host key*: lower case, the first DNS label of a name (domain
suffixes differ between sources far more often than short names collide; a machine
account's trailing `$` dropped), or the address when the value is an IP address (lower case,
brackets removed; IPv6 compressed, IPv4-mapped IPv6 as the IPv4 address). Network
sources learn IP -> name pairs (DNS, DHCP, Kerberos) so correlation can map addresses to
the same key; see docs/sources.md.
"""

from __future__ import annotations

import ipaddress
import re

import pyarrow as pa
import pyarrow.compute as pc

PLACEHOLDERS = frozenset({"", "-", "localhost", "localhost.localdomain", "(none)", "unknown", "null", "none"})
_IPV4 = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")


def host_key(name: str | None) -> str | None:
    """Normalise a host name or address to the host key (None for empty / placeholder)."""
    if name is None:
        return None
    s = name.strip().strip(".").lower().lstrip("\\").strip("[]")
    if s in PLACEHOLDERS:
        return None
    if ":" in s:
        return _ipv6(s)
    if _IPV4.match(s):
        return s
    # a machine account (WS01$ in Windows Security events) names the host WS01
    return s.split(".", 1)[0].rstrip("$") or None


def _ipv6(s: str) -> str:
    """IPv6 in compressed form; an IPv4-mapped address (::ffff:10.0.0.5, as Windows and Zeek write
    IPv4 peers of dual-stack sockets) as its IPv4 address, so both spellings give one key."""
    try:
        addr = ipaddress.IPv6Address(s.split("%", 1)[0])
    except ValueError:
        return s
    return str(addr.ipv4_mapped) if addr.ipv4_mapped else addr.compressed


def host_keys(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`host_key` over an Arrow string column: computed once per distinct value, so it costs a
    dictionary encode, not a Python call per event."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = pc.cast(values, pa.string())
    encoded = pc.dictionary_encode(values)
    keys = pa.array([host_key(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return keys.take(encoded.indices)
