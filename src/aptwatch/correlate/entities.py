"""Entities of a finding, turned into what correlation links on.

A finding's `entities` (host, user, src_ip, dst_ip, domain, process, hash, ...) become:

- its **hosts**: the host keys it happened on (the first is its primary host);
- **touched addresses**: internal IP addresses it names (a connection to or a logon from another
  machine). Correlation resolves them to host keys and follows them as network edges (host A ->
  host B), so a chain follows the attacker from machine to machine;
- **link keys** `(kind, value, scope)`, normalised for matching:

  - `global` (external `ip`, `domain`, `url`, `hash`): links any two findings within the horizon,
    weighted by rarity;
  - `cross_host` (`user`, `process`, `file`, `service`, other kinds): links only findings on
    *different* hosts: on its own host a user or a program is the host's normal context;
  - `instance` (`proc`: the process GUID, and the parent's unless it is a system parent;
    `session`: host + logon id): the same process tree or logon session.

Well-known service identities (SYSTEM, LOCAL SERVICE, root, DWM-1, ...), machine accounts
(`NAME$`) and system logon sessions never become keys: they appear everywhere and would glue
unrelated findings (see `settings.WELL_KNOWN_USERS`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from aptwatch.context.networks import normalise_ip, parse_ip
from aptwatch.correlate.settings import SYSTEM_LOGON_IDS, SYSTEM_PARENTS, WELL_KNOWN_USER_PREFIXES, WELL_KNOWN_USERS
from aptwatch.model.hosts import host_key

GLOBAL = "global"
CROSS_HOST = "cross_host"
INSTANCE = "instance"

#: entity kinds that name an address
IP_KINDS = frozenset({"src_ip", "dst_ip", "ip", "ips", "source_ip", "destination_ip", "remote_ip", "client_ip",
                      "server_ip"})
#: entity kinds that name a hash (kept under one kind: a hash is a hash)
SOURCE_IP_KINDS = frozenset({"src_ip", "source_ip", "client_ip"})
HASH_KINDS = frozenset({"hash", "hashes", "md5", "sha1", "sha256", "imphash", "sha512", "ssdeep", "ja3", "ja3s"})
DOMAIN_KINDS = frozenset({"domain", "fqdn", "query", "server_name", "sni", "http_host"})
URL_KINDS = frozenset({"url", "uri"})
USER_KINDS = frozenset({"user", "target_user", "subject_user", "account", "username"})
PROCESS_GUID_KINDS = frozenset({"process_guid", "process_uid", "process_entity_id"})
PARENT_GUID_KINDS = frozenset({"parent_process_guid", "parent_guid"})
LOGON_KINDS = frozenset({"logon_id", "session_id"})
#: kinds that describe, not identify: never link on them
IGNORED_KINDS = frozenset({"host", "parent_image", "parent_process", "parent_path", "port", "src_port", "dst_port",
                           "protocol", "rule", "signature", "category", "severity", "sensor", "workstation"})


class LinkKey(NamedTuple):
    """A normalised key (a tuple: hashing and creation stay in C on the hot path)."""

    kind: str
    value: str
    scope: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass
class FindingKeys:
    """What correlation needs from one finding's entities."""

    hosts: list[str] = field(default_factory=list)
    keys: list[LinkKey] = field(default_factory=list)
    #: internal addresses named by the finding (resolved to hosts later)
    addresses: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    @property
    def host(self) -> str | None:
        return self.hosts[0] if self.hosts else None


#: one spelling per address (`::ffff:10.0.0.5` -> `10.0.0.5`); memoised: logs repeat few addresses
norm_ip = functools.lru_cache(maxsize=65536)(normalise_ip)
#: host keys, memoised likewise
cached_host_key = functools.lru_cache(maxsize=65536)(host_key)


@functools.lru_cache(maxsize=65536)
def is_internal(ip: str) -> bool | None:
    """True for private / loopback / link-local / shared addresses, False for global ones, None if not an IP.
    The default; a store's configured internal ranges (`aptwatch ingest --internal-net`) replace it."""
    addr = parse_ip(ip)
    if addr is None:
        return None
    return not addr.is_global


def normalise_user(value: str) -> str | None:
    """`CORP\\Alice`, `alice@corp.example` and `alice` -> `alice`; None for service identities and
    machine accounts (they identify a host, not a person)."""
    v = value.strip().lower()
    if not v or v in WELL_KNOWN_USERS or v.startswith(WELL_KNOWN_USER_PREFIXES):
        return None
    if "\\" in v:
        v = v.rsplit("\\", 1)[1].strip()
    if "@" in v:
        v = v.split("@", 1)[0].strip()
    if not v or v in WELL_KNOWN_USERS or v.startswith(("dwm-", "umfd-")) or v.endswith("$"):
        return None
    return v


def image_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()


def _hash_values(value: str) -> Iterable[str]:
    # Sysmon writes 'SHA1=..,MD5=..,SHA256=..'; other sources a bare hex string
    for part in value.split(","):
        v = part.split("=", 1)[1] if "=" in part else part
        v = v.strip().lower()
        if len(v) >= 16:
            yield v


def finding_keys(entities: Mapping[str, Iterable[str]], extra: Mapping[str, Iterable[str]] | None = None,
                 internal: Callable[[str], bool | None] = is_internal) -> FindingKeys:
    """Hosts, internal addresses and link keys of a finding (entities plus enrichment from its events).
    `internal` says whether an address is in the estate's ranges (None: not an address)."""
    out = FindingKeys()
    merged: dict[str, list[str]] = {k: list(v) for k, v in entities.items()}
    for k, v in (extra or {}).items():
        merged.setdefault(k, [])
        merged[k].extend(x for x in v if x not in merged[k])
    seen: set[LinkKey] = set()

    def add(kind: str, value: str, scope: str) -> None:
        value = value.strip()
        if not value:
            return
        key = LinkKey(kind, value, scope)
        if key not in seen:
            seen.add(key)
            out.keys.append(key)

    for raw in merged.get("host", ()):
        h = cached_host_key(raw)
        if h and h not in out.hosts:
            out.hosts.append(h)
    parent_images = {image_name(p) for k in ("parent_image", "parent_process", "parent_path")
                     for p in merged.get(k, ())}
    for kind, values in merged.items():
        if kind in IGNORED_KINDS:
            continue
        for raw in values:
            if raw is None or not str(raw).strip():
                continue
            value = str(raw).strip()
            if kind in IP_KINDS:
                inside = internal(value)
                ip = norm_ip(value)
                if inside is None or ip is None:
                    continue
                if inside:
                    if ip not in out.addresses:
                        # the originator first: a finding without a host is attributed to it
                        if kind in SOURCE_IP_KINDS:
                            out.addresses.insert(0, ip)
                        else:
                            out.addresses.append(ip)
                else:
                    add("ip", ip, GLOBAL)
            elif kind in HASH_KINDS:
                for h in _hash_values(value):
                    add("hash", h, GLOBAL)
            elif kind in DOMAIN_KINDS:
                d = value.lower().rstrip(".")
                if d and parse_ip(d) is None:
                    add("domain", d, GLOBAL)
            elif kind in URL_KINDS:
                add("url", value, GLOBAL)
            elif kind in USER_KINDS:
                u = normalise_user(value)
                if u:
                    add("user", u, CROSS_HOST)
                    if u not in out.users:
                        out.users.append(u)
            elif kind in PROCESS_GUID_KINDS:
                add("proc", value.strip("{}").lower(), INSTANCE)
            elif kind in PARENT_GUID_KINDS:
                # siblings under services.exe or explorer.exe are unrelated; under cmd.exe they are not
                if parent_images and not (parent_images & SYSTEM_PARENTS):
                    add("proc", value.strip("{}").lower(), INSTANCE)
            elif kind in LOGON_KINDS:
                lid = value.lower()
                if lid not in SYSTEM_LOGON_IDS and out.hosts:
                    add("session", f"{out.hosts[0]}:{lid}", INSTANCE)
            elif kind == "process":
                add("process", value.lower(), CROSS_HOST)
            elif kind == "file":
                add("file", value.lower(), CROSS_HOST)
            else:
                add(kind, value.lower(), CROSS_HOST)
    return out
