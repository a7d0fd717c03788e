"""Address context: which host an IP address belonged to, and when.

Network sensors name addresses, host telemetry names hosts. This module learns IP -> host
pairs from the events that carry both and keeps them in the state table `host_addresses`
(one row per ip, host and evidence kind, with first/last seen and an evidence count), so
that any stage can ask `AddressBook.resolve(ip, at_time)` for the host key.

Evidence kinds (docs/sources.md, "Address context"):

| kind | from | pair |
|---|---|---|
| dhcp | `dhcp` table (Zeek dhcp.log), `generic` rows of channel dhcp | assigned address -> host name, |
|  |  | valid until the lease ends |
| machine_account | `auth` rows of a machine account (`WS01$`: 4768, 4624, Zeek kerberos) | client address -> host |
| logon | `auth` rows with a client address and workstation name | IpAddress -> WorkstationName |
| host_network | `network` rows of host sensors (Sysmon 3: `initiated` known) | own address -> reporting host |
| agent | `ids_alert` rows naming the host's address (Wazuh agent.ip, AIT-ADS ip) | host_ip -> host |
| dns_ptr | `dns` PTR answers | reversed query -> answer name |
| dns_a | `dns` A/AAAA answers | internal address -> queried name (last CNAME target) |

Only internal addresses (configured ranges, see `networks`) that name one host (not loopback,
multicast, unspecified) are kept; DNS A/AAAA claims count in `resolve` only for names in a local zone
(`local_zone`: single labels, private suffixes, realms and domains learned from Kerberos / DHCP).
The work runs in the engine: one SQL query per kind over the events of the ingest runs not yet
absorbed (tracked in `derived_progress`, written in the same transaction as the rows, so every event
counts exactly once even if a run is killed).
Python only normalises the small set of distinct pairs (address spellings, host keys).

Precedence in `resolve` (documented in docs/sources.md): a DHCP lease whose window holds the
time wins; otherwise claims current at that time (within `tolerance`) win over stale ones,
and among them machine_account/logon/host_network/agent beat DNS; ties go to more evidence, then the
latest. With no time given, rank then evidence decide.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from aptwatch.context.networks import InternalNetworks, configured_networks, is_host_address, parse_ip
from aptwatch.model.hosts import host_key

if TYPE_CHECKING:
    from aptwatch.store import Session, Store

STAGE = "host_addresses"
#: `meta` key: the internal ranges host_addresses was derived with (a change triggers a rebuild)
BUILT_WITH_KEY = "host_addresses.networks"

#: evidence kind -> precedence rank (lower wins)
KIND_RANK: dict[str, int] = {
    "dhcp": 0,
    "machine_account": 1,
    "logon": 1,
    "host_network": 1,
    "agent": 1,
    "dns_ptr": 2,
    "dns_a": 2,
}
DEFAULT_TOLERANCE = timedelta(hours=24)
#: `meta` key: DNS zones learned as local (JSON list), see `local_zone`
ZONES_KEY = "host_addresses.zones"
#: suffixes reserved or conventional for private names (RFC 6762 .local, RFC 8375 home.arpa, common LAN ones)
PRIVATE_SUFFIXES = ("local", "lan", "home", "internal", "intranet", "corp", "localdomain", "home.arpa", "private")
_ZONE_RE = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+$")

_IPV4_RE = r"(::ffff:)?[0-9]{1,3}(\.[0-9]{1,3}){3}"
_IPV6_RE = r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*(%[^ ]*)?"


def _kind_queries() -> dict[str, str]:
    """SQL per evidence kind. Each yields ip, name, kind, first_seen, last_seen, valid_until, evidence over
    rows of ingest runs listed in the relation `todo_ingests`."""
    scope = "ingest_id IN (SELECT ingest_id FROM todo_ingests)"
    agg = "min(time) AS first_seen, max(time) AS last_seen, CAST(NULL AS TIMESTAMPTZ) AS valid_until, " \
          "count(*) AS evidence"
    machine = r"regexp_extract(target_user, '^(?:[^\\]*\\)?([^\\/@$]+)\$(?:[/@].*)?$', 1)"
    dhcp_name = "coalesce(nullif(nullif(trim(host_name), ''), '-'), nullif(nullif(trim(client_fqdn), ''), '-'))"
    # Zeek dhcp.log in `generic`: fields in `data` (TSV) or `raw` itself (JSON, where raw is the flat record)
    doc = "(CASE WHEN starts_with(data, '{') THEN data WHEN starts_with(raw, '{') THEN raw END)"
    generic_dhcp = (
        f"SELECT time, json_extract_string({doc}, '$.assigned_addr') AS ip, "
        f"coalesce(nullif(json_extract_string({doc}, '$.host_name'), ''), "
        f"nullif(json_extract_string({doc}, '$.client_fqdn'), '')) AS name, "
        f"TRY_CAST(json_extract_string({doc}, '$.lease_time') AS DOUBLE) AS lease "
        f"FROM generic WHERE {scope} AND channel = 'dhcp'"
    )
    return {
        "dhcp": f"""
            WITH leases AS (
                SELECT time, assigned_ip AS ip, {dhcp_name} AS name, lease_time AS lease FROM dhcp
                WHERE {scope}
                UNION ALL {generic_dhcp}
            )
            SELECT ip, name, 'dhcp' AS kind, min(time) AS first_seen, max(time) AS last_seen,
                   max(time + to_microseconds(CAST(coalesce(lease, 0) * 1e6 AS BIGINT))) AS valid_until,
                   count(*) AS evidence
            FROM leases WHERE ip IS NOT NULL AND name IS NOT NULL AND time IS NOT NULL GROUP BY ALL""",
        "machine_account": f"""
            SELECT src_ip AS ip, {machine} AS name, 'machine_account' AS kind, {agg} FROM auth
            WHERE {scope} AND src_ip IS NOT NULL AND time IS NOT NULL AND target_user LIKE '%$%'
              AND {machine} <> '' AND (outcome IS NULL OR outcome <> 'failure') GROUP BY ALL""",
        # the client's workstation name (4624/4625/4776, Zeek ntlm `hostname`, rdp `client_name`), and the server's
        # own name in an NTLM challenge (Zeek ntlm `server_nb_computer_name`) at the responder's address
        "logon": f"""
            SELECT ip, name, 'logon' AS kind, {agg} FROM (
                SELECT time, src_ip AS ip, workstation AS name FROM auth
                WHERE {scope} AND src_ip IS NOT NULL AND workstation IS NOT NULL
                UNION ALL
                SELECT time, dst_ip AS ip, target_server AS name FROM auth
                WHERE {scope} AND protocol = 'ntlm' AND dst_ip IS NOT NULL AND target_server IS NOT NULL
            ) WHERE time IS NOT NULL AND trim(name) NOT IN ('', '-') GROUP BY ALL""",
        "host_network": f"""
            SELECT CASE WHEN initiated THEN src_ip ELSE dst_ip END AS ip, host AS name, 'host_network' AS kind, {agg}
            FROM network WHERE {scope} AND initiated IS NOT NULL AND host IS NOT NULL AND time IS NOT NULL
            GROUP BY ALL""",
        "agent": f"""
            SELECT host_ip AS ip, host AS name, 'agent' AS kind, {agg} FROM ids_alert
            WHERE {scope} AND host_ip IS NOT NULL AND host IS NOT NULL AND time IS NOT NULL GROUP BY ALL""",
    }


_PARTS = "[regexp_replace(trim(x), '^type:\\s*[0-9]+\\s+', '') FOR x IN regexp_split_to_array(answers, '\\s*[;,]\\s*')]"


def _dns_rows(s: Session, networks: InternalNetworks) -> list[dict[str, Any]]:
    """DNS claims. Answers as logged: 'a;b', 'a,b', Sysmon 'type:  5 cname;::ffff:10.0.0.5;'. A DNS log repeats
    the same (query, answers) millions of times and almost all answers are external, so: collapse repeats, find
    the distinct answer tokens that are internal addresses (exact check in Python, on thousands of tokens, not
    millions of rows), and split only the answers that hold one (and PTR answers)."""
    scope = "ingest_id IN (SELECT ingest_id FROM todo_ingests)"
    d = s.sql(f"""
        SELECT lower(rtrim(trim(query), '.')) AS q, answers, min(time) AS first_seen, max(time) AS last_seen,
               count(*) AS evidence
        FROM dns
        WHERE {scope} AND time IS NOT NULL AND query IS NOT NULL AND answers IS NOT NULL AND answers <> ''
          AND (rcode IS NULL OR upper(rcode) IN ('NOERROR', '0'))
        GROUP BY ALL""")
    if d.num_rows == 0:
        return []
    s.register("dns_pairs", d)
    tokens = s.sql(f"SELECT DISTINCT unnest({_PARTS}) AS part FROM dns_pairs").column("part").to_pylist()
    internal = [t for t in tokens if t and (ip := parse_ip(t)) is not None and networks.contains(ip)]
    s.register("internal_tokens", pa.table({"part": pa.array(internal, pa.string())}))
    ip_test = f"(regexp_full_match(x, '{_IPV4_RE}') OR regexp_full_match(x, '{_IPV6_RE}'))"
    rows: list[dict[str, Any]] = s.sql(f"""
        WITH hit AS (
            SELECT DISTINCT q, answers FROM (SELECT q, answers, unnest({_PARTS}) AS part FROM dns_pairs)
            JOIN internal_tokens USING (part)
        ), picked AS (
            SELECT p.*, {_PARTS} AS parts, (q LIKE '%.in-addr.arpa' OR q LIKE '%.ip6.arpa') AS is_ptr
            FROM dns_pairs p
            WHERE q LIKE '%.in-addr.arpa' OR q LIKE '%.ip6.arpa' OR (q, answers) IN (SELECT (q, answers) FROM hit)
        ), s AS (
            SELECT *, [x FOR x IN parts IF x NOT IN ('', '-') AND {ip_test}] AS ips,
                   [x FOR x IN parts IF x NOT IN ('', '-') AND NOT {ip_test}] AS names
            FROM picked
        ), pairs AS (
            SELECT q AS ip, unnest(names) AS name, 'dns_ptr' AS kind, first_seen, last_seen, evidence
            FROM s WHERE is_ptr
            UNION ALL
            SELECT unnest(ips) AS ip, coalesce(names[-1], q) AS name, 'dns_a' AS kind, first_seen, last_seen,
                   evidence
            FROM s WHERE NOT is_ptr
        )
        SELECT ip, name, kind, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               CAST(NULL AS TIMESTAMPTZ) AS valid_until, sum(evidence) AS evidence
        FROM pairs WHERE name <> '' AND NOT starts_with(name, '_') GROUP BY ALL""").to_pylist()
    return rows


def _zone_query() -> str:
    """DNS zones that are ours, from the events of the runs in `todo_ingests`: Kerberos realms and AD domains
    (`target_domain` / `subject_domain` with a dot: 4768/4769, Zeek kerberos `client` realm), the domain DHCP
    hands out (Zeek dhcp.log `domain`), and the domain of Active Directory locator queries
    (`_ldap._tcp.dc._msdcs.<domain>`, which a domain member asks for its own domain)."""
    scope = "ingest_id IN (SELECT ingest_id FROM todo_ingests)"
    doc = "(CASE WHEN starts_with(data, '{') THEN data WHEN starts_with(raw, '{') THEN raw END)"
    return f"""
        SELECT z, count(*) AS n FROM (
            SELECT lower(rtrim(trim(target_domain), '.')) AS z FROM auth WHERE {scope} AND contains(target_domain, '.')
            UNION ALL
            SELECT lower(rtrim(trim(subject_domain), '.')) FROM auth WHERE {scope} AND contains(subject_domain, '.')
            UNION ALL
            SELECT lower(rtrim(trim(domain), '.')) FROM dhcp WHERE {scope} AND contains(domain, '.')
            UNION ALL
            SELECT lower(rtrim(trim(json_extract_string({doc}, '$.domain')), '.')) FROM generic
            WHERE {scope} AND channel = 'dhcp'
            UNION ALL  -- Active Directory locator queries name the domain: _ldap._tcp.dc._msdcs.<domain>
            SELECT regexp_extract(lower(rtrim(trim(query), '.')), '\\._msdcs\\.([a-z0-9_.-]+)$', 1) FROM dns
            WHERE {scope} AND contains(lower(query), '._msdcs.')
        ) WHERE z IS NOT NULL AND z <> '' GROUP BY z"""


def local_zone(name: str | None, zones: Iterable[str]) -> bool:
    """Whether a DNS name is one of ours: a single label (`ws01`), a private suffix (`.local`, `.lan`,
    `.home.arpa`, ...) or inside a zone learned from Kerberos realms / AD domains / DHCP (`dc01.corp.example`
    for `corp.example`). Public names that happen to resolve to a private address (Microsoft's connectivity check
    `dns.msftncsi.com` -> fd3e:4f5a:5b81::1, `10-0-0-5.nip.io`) are not."""
    if not name:
        return False
    n = name.strip().strip(".").lower()
    if n and "." not in n:
        return True
    if any(n == s or n.endswith("." + s) for s in PRIVATE_SUFFIXES):
        return True
    return any(n == z or n.endswith("." + z) for z in zones)


def ptr_address(query: str) -> str | None:
    """'5.0.0.10.in-addr.arpa' -> '10.0.0.5'; nibble-format ip6.arpa -> the IPv6 address; else None."""
    q = query.lower().rstrip(".")
    if q.endswith(".in-addr.arpa"):
        parts = q[: -len(".in-addr.arpa")].split(".")
        if len(parts) != 4:
            return None
        cand = ".".join(reversed(parts))
    elif q.endswith(".ip6.arpa"):
        nibbles = q[: -len(".ip6.arpa")].split(".")
        if len(nibbles) != 32 or any(len(n) != 1 for n in nibbles):
            return None
        hexed = "".join(reversed(nibbles))
        cand = ":".join(hexed[i : i + 4] for i in range(0, 32, 4))
    else:
        return None
    ip = parse_ip(cand)
    return None if ip is None else str(ip)


@dataclass(frozen=True)
class AddressClaim:
    """One row of `host_addresses`: evidence that `ip` belonged to `host`."""

    ip: str
    host: str
    kind: str
    name: str | None
    first_seen: datetime
    last_seen: datetime
    valid_until: datetime | None
    evidence: int

    @property
    def rank(self) -> int:
        return KIND_RANK.get(self.kind, 3)

    @property
    def window_end(self) -> datetime:
        return max(self.last_seen, self.valid_until) if self.valid_until else self.last_seen


@dataclass(frozen=True)
class AddressUpdate:
    """What one update absorbed."""

    ingests: int
    pairs: int
    rebuilt: bool


def _normalise(rows: Sequence[dict[str, Any]], networks: InternalNetworks) -> list[AddressClaim]:
    """Engine output -> claims: normalised address, host key, internal and single-host addresses only,
    merged after normalisation (two spellings of one address are one claim)."""
    merged: dict[tuple[str, str, str], AddressClaim] = {}
    for r in rows:
        raw_ip = r["ip"]
        ip_text = ptr_address(raw_ip) if r["kind"] == "dns_ptr" else raw_ip
        ip = parse_ip(ip_text)
        if ip is None or not is_host_address(ip) or not networks.contains(ip):
            continue
        host = host_key(r["name"])
        if host is None or host == str(ip):
            continue
        key = (str(ip), host, r["kind"])
        claim = AddressClaim(str(ip), host, r["kind"], r["name"], r["first_seen"], r["last_seen"], r["valid_until"],
                             int(r["evidence"]))
        old = merged.get(key)
        if old is not None:
            until = [t for t in (old.valid_until, claim.valid_until) if t is not None]
            claim = AddressClaim(key[0], host, key[2], old.name or claim.name, min(old.first_seen, claim.first_seen),
                                 max(old.last_seen, claim.last_seen), max(until) if until else None,
                                 old.evidence + claim.evidence)
        merged[key] = claim
    return list(merged.values())


def derive_claims(store: Store, ingest_ids: Iterable[str],
                  networks: InternalNetworks) -> tuple[list[AddressClaim], set[str]]:
    """Claims and local DNS zones found in the events of the given ingest runs (not yet merged with the stored)."""
    ids = sorted(set(ingest_ids))
    if not ids:
        return [], set()
    rows: list[dict[str, Any]] = []
    zones: set[str] = set()
    with store.session() as s:
        s.register("todo_ingests", pa.table({"ingest_id": pa.array(ids, pa.string())}))
        present = set(s.event_tables())
        needs = {"dhcp": {"dhcp", "generic"}, "machine_account": {"auth"}, "logon": {"auth"},
                 "host_network": {"network"}, "agent": {"ids_alert"}}
        for kind, query in _kind_queries().items():
            if needs[kind] & present:
                rows.extend(s.sql(query).to_pylist())
        if "dns" in present:
            rows.extend(_dns_rows(s, networks))
        if {"auth", "dhcp", "generic", "dns"} & present:
            zones = {r["z"] for r in s.sql(_zone_query()).to_pylist()
                     if len(r["z"]) < 254 and _ZONE_RE.match(r["z"]) and parse_ip(r["z"]) is None}
    return _normalise(rows, networks), zones


#: event tables an evidence query reads (`_kind_queries`, `_dns_rows`, `_zone_query`); of `generic`, only rows of
#: channel 'dhcp'
EVIDENCE_TABLES = frozenset({"auth", "dhcp", "dns", "generic", "ids_alert", "network"})


def may_hold_evidence(root: Path, written: Mapping[str, Sequence[str]]) -> bool:
    """Whether the lake files an ingest run wrote (table -> paths under `root`) can hold address evidence.

    Decided from the tables and, for `generic`, from the `channel` statistics in the files' footers (a
    footer read, no scan): a run of JSON lines without a DHCP channel is absorbed without a query."""
    for table, paths in written.items():
        if table not in EVIDENCE_TABLES or not paths:
            continue
        if table != "generic":
            return True
        for path in paths:
            try:
                meta = pq.read_metadata(root / path)
                col = meta.schema.names.index("channel")
            except (OSError, ValueError, pa.ArrowException):
                return True  # cannot tell: look
            for i in range(meta.num_row_groups):
                rg = meta.row_group(i)
                st = rg.column(col).statistics
                if st is not None and st.null_count == rg.num_rows:
                    continue  # no channel at all in this row group
                if st is None or not st.has_min_max or st.min <= "dhcp" <= st.max:
                    return True
    return False


def update_host_addresses(store: Store, networks: InternalNetworks | None = None, *,
                          written: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> AddressUpdate:
    """Absorb every committed ingest run not yet absorbed into `host_addresses`. The caller holds the
    store's writer lock. When the internal ranges changed since the table was built, rebuild it.

    `written`: ingest id -> the lake files it wrote per table, for runs the caller has just made; a run
    whose files cannot hold evidence (`may_hold_evidence`) is marked absorbed without querying it."""
    nets = networks or configured_networks(store)
    built = json.dumps(list(nets.cidrs))
    with store.state.connect(read_only=True) as con:
        row = con.execute("SELECT value FROM meta WHERE key = ?", [BUILT_WITH_KEY]).fetchone()
        rebuild = row is None or row[0] != built
        committed = {r[0] for r in con.execute("SELECT DISTINCT ingest_id FROM sources").fetchall()}
        done = set() if rebuild else {r[0] for r in con.execute(
            "SELECT ingest_id FROM derived_progress WHERE stage = ?", [STAGE]).fetchall()}
        known_zones = set() if rebuild else set(json.loads((con.execute(
            "SELECT value FROM meta WHERE key = ?", [ZONES_KEY]).fetchone() or ["[]"])[0]))
    todo = committed - done
    if not todo and not rebuild:
        return AddressUpdate(0, 0, False)
    known = written or {}
    scan = {i for i in todo if i not in known or may_hold_evidence(store.root, known[i])}
    claims, zones = derive_claims(store, scan, nets)
    zones |= known_zones
    now = datetime.now(UTC)
    batch = pa.table({
        "ip": pa.array([c.ip for c in claims], pa.string()),
        "host": pa.array([c.host for c in claims], pa.string()),
        "kind": pa.array([c.kind for c in claims], pa.string()),
        "name": pa.array([c.name for c in claims], pa.string()),
        "first_seen": pa.array([c.first_seen for c in claims], pa.timestamp("us", tz="UTC")),
        "last_seen": pa.array([c.last_seen for c in claims], pa.timestamp("us", tz="UTC")),
        "valid_until": pa.array([c.valid_until for c in claims], pa.timestamp("us", tz="UTC")),
        "evidence": pa.array([c.evidence for c in claims], pa.int64()),
    })
    progress = pa.table({"ingest_id": pa.array(sorted(todo), pa.string())})
    with store.state.connect(read_only=False) as con:
        con.register("new_claims", batch)
        con.register("new_progress", progress)
        con.execute("BEGIN")
        if rebuild:
            con.execute("DELETE FROM host_addresses")
            con.execute("DELETE FROM derived_progress WHERE stage = ?", [STAGE])
        con.execute("""
            INSERT INTO host_addresses (ip, host, kind, name, first_seen, last_seen, valid_until, evidence, updated_at)
            SELECT ip, host, kind, name, first_seen, last_seen, valid_until, evidence, $now FROM new_claims
            ON CONFLICT (ip, host, kind) DO UPDATE SET
                name = coalesce(host_addresses.name, excluded.name),
                first_seen = least(host_addresses.first_seen, excluded.first_seen),
                last_seen = greatest(host_addresses.last_seen, excluded.last_seen),
                valid_until = greatest(host_addresses.valid_until, excluded.valid_until),
                evidence = host_addresses.evidence + excluded.evidence,
                updated_at = excluded.updated_at
        """, {"now": now})
        con.execute("INSERT INTO derived_progress SELECT ?, ingest_id, ? FROM new_progress ON CONFLICT DO NOTHING",
                    [STAGE, now])
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [BUILT_WITH_KEY, built])
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [ZONES_KEY, json.dumps(sorted(zones))])
        con.execute("COMMIT")
    return AddressUpdate(len(todo), len(claims), rebuild)


class AddressBook:
    """IP -> host key at a time, from `host_addresses` (loaded once; the table is small: hosts x addresses)."""

    def __init__(self, claims: Iterable[AddressClaim], tolerance: timedelta = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance
        self._by_ip: dict[str, list[AddressClaim]] = defaultdict(list)
        for c in claims:
            self._by_ip[c.ip].append(c)

    @classmethod
    def load(cls, store: Store, tolerance: timedelta = DEFAULT_TOLERANCE) -> AddressBook:
        """The store's address context. DNS A/AAAA claims count only for names in a local zone (`local_zone`);
        the table keeps them all, so a zone learned later applies to earlier answers too."""
        with store.state.connect(read_only=True) as con:
            rows = con.execute("SELECT ip, host, kind, name, first_seen, last_seen, valid_until, evidence "
                               "FROM host_addresses").fetchall()
            zone_row = con.execute("SELECT value FROM meta WHERE key = ?", [ZONES_KEY]).fetchone()
        zones = tuple(json.loads(zone_row[0])) if zone_row else ()
        claims = (AddressClaim(*r) for r in rows)
        return cls((c for c in claims if c.kind != "dns_a" or local_zone(c.name, zones)), tolerance)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_ip.values())

    def claims(self, ip: str) -> list[AddressClaim]:
        """Every claim about an address (any spelling)."""
        addr = parse_ip(ip)
        return list(self._by_ip.get(str(addr), ())) if addr is not None else []

    def resolve(self, ip: str | None, at: datetime | None = None) -> str | None:
        """The host key an address belonged to at `at` (None: unknown). See the module doc for precedence."""
        best = self.explain(ip, at)
        return best.host if best else None

    def explain(self, ip: str | None, at: datetime | None = None) -> AddressClaim | None:
        """The claim `resolve` would follow."""
        if ip is None:
            return None
        cands = self.claims(ip)
        if not cands:
            return None
        if at is None:
            return min(cands, key=lambda c: (c.rank, -c.evidence, -c.last_seen.timestamp()))
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        leases = [c for c in cands if c.kind == "dhcp" and c.first_seen <= at <= c.window_end]
        if leases:
            return max(leases, key=lambda c: (c.first_seen, c.evidence))
        tol = self.tolerance
        # a lease is exact (handled above); other claims count as current within the tolerance
        current = [c for c in cands if c.kind != "dhcp" and c.first_seen - tol <= at <= c.window_end + tol]
        if current:
            return min(current, key=lambda c: (c.rank, -c.evidence, -c.last_seen.timestamp()))

        def distance(c: AddressClaim) -> float:
            return min(abs((at - c.first_seen).total_seconds()), abs((at - c.window_end).total_seconds()))

        return min(cands, key=lambda c: (distance(c), c.rank, -c.evidence))
