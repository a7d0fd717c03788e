"""Shared pieces of the behavioural analytics.

- `Options`: an analytic's settings (`DetectSettings.options["<analytic>.<name>"]`, then
  `"analytics.<name>"`, then the default), so every threshold is documented and overridable.
- Incremental folding: each analytic (or shared aggregate) records in the state table
  `analytic_ingests` which ingest runs it has folded into its baselines; a run reads only rows
  whose `ingest_id` is new (`Incremental`). Lake files carry min/max statistics on
  `ingest_id`, so the filter prunes old files instead of scanning them.
- Baselines: rows of the state table `baselines` (analytic, key, first_seen, last_seen, count,
  hosts, value JSON) read into the session as an Arrow relation and upserted back in the same
  transaction that marks the ingests as folded.
- SQL helpers (DuckDB macros): internal-address predicate, Shannon entropy, longest consonant
  run, public-suffix-aware registered domain (the bundled Public Suffix List of the
  `publicsuffixlist` package; no network fetch), evidence references.
- Data files (allowlists, cloud-storage domains, LOLBAS binaries) under `analytics/data/`.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pyarrow as pa

from aptwatch.detect.base import DetectContext
from aptwatch.model.finding import Evidence, parse_time
from aptwatch.store.base import Session
from aptwatch.store.writer import StoreWriter

T = TypeVar("T", int, float, str, bool)

#: RFC 1918, RFC 6598 (CGNAT), loopback, link-local, RFC 4193 ULA, IPv6 link-local and loopback
DEFAULT_INTERNAL = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
                    "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128")
#: multicast, broadcast and "this network": never an external destination (link-local protocols live here)
NOT_EXTERNAL = ("224.0.0.0/4", "255.255.255.255/32", "0.0.0.0/8", "ff00::/8")
#: accounts that are the machine itself or built-in service identities (never "a user")
SERVICE_ACCOUNTS = ("system", "local service", "network service", "anonymous logon", "-", "")


class Options:
    """Settings of one analytic: `<analytic>.<name>`, else `analytics.<name>`, else the default."""

    def __init__(self, ctx: DetectContext, analytic: str) -> None:
        self._opts = ctx.settings.options
        self.analytic = analytic

    def get(self, name: str, default: T) -> T:
        for key in (f"{self.analytic}.{name}", f"analytics.{name}"):
            if key in self._opts:
                value = self._opts[key]
                if isinstance(default, bool):
                    flag = str(value).lower() in ("1", "true", "yes", "on") if isinstance(value, str) \
                        else bool(value)
                    return flag
                return type(default)(value)
        return default

    def list(self, name: str, default: Sequence[str]) -> tuple[str, ...]:
        for key in (f"{self.analytic}.{name}", f"analytics.{name}"):
            if key in self._opts:
                value = self._opts[key]
                return tuple(value.split(",")) if isinstance(value, str) else tuple(value)
        return tuple(default)


# --------------------------------------------------------------------------------------
# SQL literals and predicates
# --------------------------------------------------------------------------------------
def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def in_list(column: str, values: Iterable[str]) -> str:
    vals = sorted(set(values))
    if not vals:
        return "false"
    return f"{column} IN ({', '.join(lit(v) for v in vals)})"


def internal_ip_sql(column: str, cidrs: Sequence[str] = DEFAULT_INTERNAL) -> str:
    """SQL predicate: `column` is an address in one of `cidrs` (validated here, so safe to inline).

    IPv4 compares the address as an integer (octets from the dotted text); IPv6 compares the
    leading hex digits of the first group(s), which covers the usual prefixes (/7, /10, /128).
    """
    v4: list[str] = []
    v6: list[str] = []
    ip4 = (f"(TRY_CAST(split_part({column}, '.', 1) AS BIGINT) * 16777216 + "
           f"TRY_CAST(split_part({column}, '.', 2) AS BIGINT) * 65536 + "
           f"TRY_CAST(split_part({column}, '.', 3) AS BIGINT) * 256 + "
           f"TRY_CAST(split_part({column}, '.', 4) AS BIGINT))")
    for c in cidrs:
        net = ipaddress.ip_network(c.strip(), strict=False)
        if isinstance(net, ipaddress.IPv4Network):
            lo = int(net.network_address)
            hi = int(net.broadcast_address)
            v4.append(f"{ip4} BETWEEN {lo} AND {hi}")
        else:
            if net.prefixlen == 128:
                v6.append(f"lower({column}) = {lit(net.network_address.compressed)}")
                continue
            # compare the first group as a 16-bit number against the prefix's range (prefix <= 16)
            first = int(net.network_address) >> 112
            span = 1 << max(0, 16 - min(net.prefixlen, 16))
            grp = f"TRY_CAST(('0x' || split_part(lower({column}), ':', 1)) AS BIGINT)"
            v6.append(f"(contains({column}, ':') AND {grp} BETWEEN {first} AND {first + span - 1})")
    parts = [f"(contains({column}, '.') AND NOT contains({column}, ':') AND ({' OR '.join(v4)}))"] if v4 else []
    parts += v6
    return "(" + (" OR ".join(parts) if parts else "false") + ")"


def internal_cidrs(opts: Options) -> tuple[str, ...]:
    return opts.list("internal_cidrs", DEFAULT_INTERNAL)


def install_macros(session: Session) -> None:
    """DuckDB macros shared by the analytics (temporary: they live as long as the session)."""
    session.sql("""
        CREATE OR REPLACE TEMP MACRO aw_char_count(s, c) AS (length(s) - length(replace(s, c, '')))
    """)
    # Shannon entropy in bits per character: -sum p log2 p over the distinct characters.
    session.sql("""
        CREATE OR REPLACE TEMP MACRO aw_entropy(s) AS (
            CASE WHEN s IS NULL OR length(s) = 0 THEN 0.0 ELSE
            list_sum(list_transform(list_distinct(string_split(s, '')),
                lambda c: -(aw_char_count(s, c) / length(s)) * log2(aw_char_count(s, c) / length(s))))
            END)
    """)
    session.sql("""
        CREATE OR REPLACE TEMP MACRO aw_consonant_run(s) AS (
            coalesce(list_max(list_transform(regexp_split_to_array(lower(s), '[^bcdfghjklmnpqrstvwxz]+'),
                                             lambda x: length(x))), 0))
    """)
    session.sql("""
        CREATE OR REPLACE TEMP MACRO aw_basename(p) AS (
            lower(regexp_extract(coalesce(p, ''), '([^\\\\/]*)$', 1)))
    """)
    session.sql("""
        CREATE OR REPLACE TEMP MACRO aw_evidence(src, rec, tbl, t, eid) AS (
            json_object('source', src, 'record', rec, 'table', tbl,
                        'time', strftime(t AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ'), 'event_id', eid))
    """)


# --------------------------------------------------------------------------------------
# Incremental folding
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Incremental:
    """The ingest runs an analytic has not folded yet, for some event tables."""

    analytic: str
    ingest_ids: tuple[str, ...]
    rebuild: bool = False

    @property
    def empty(self) -> bool:
        return not self.ingest_ids

    def where(self, column: str = "ingest_id") -> str:
        """SQL predicate selecting only new rows."""
        return in_list(column, self.ingest_ids)

    def mark_statements(self, rows: int = 0) -> list[tuple[str, Sequence[Any] | None]]:
        """Statements recording the ingests as folded (run in the same transaction as the baseline)."""
        if not self.ingest_ids:
            return []
        now = datetime.now(UTC)
        values = ", ".join(f"({lit(self.analytic)}, {lit(i)}, {int(rows)}, ?)" for i in self.ingest_ids)
        return [(f"INSERT OR REPLACE INTO analytic_ingests VALUES {values}", [now] * len(self.ingest_ids))]


def pending(ctx: DetectContext, analytic: str, tables: Sequence[str], *, rebuild: bool = False) -> Incremental:
    """Ingests holding rows of `tables` that `analytic` has not folded yet.

    With `rebuild`, the analytic's folding record is ignored (its state is dropped by the caller)."""
    listed = [t for t in tables if t in ctx.session.event_tables()]
    if not listed:
        return Incremental(analytic, (), rebuild)
    # Ingest ids come from the ledger of committed sources, not from the manifest: compaction rewrites
    # files under its own run id while the rows keep the ingest id that stored them.
    done = "" if rebuild else (
        "WHERE NOT EXISTS (SELECT 1 FROM analytic_ingests a WHERE a.analytic = ? AND a.ingest_id = s.ingest_id)")
    rows = ctx.writer.read_state(f"SELECT DISTINCT s.ingest_id FROM sources s {done} ORDER BY 1",
                                 None if rebuild else [analytic])
    return Incremental(analytic, tuple(r for r in rows.column(0).to_pylist() if r), rebuild)


def reset_statements(analytic: str, *, state_tables: Sequence[str] = ()) -> list[tuple[str, Sequence[Any] | None]]:
    """Statements dropping an analytic's learned state (for a rebuild)."""
    out: list[tuple[str, Sequence[Any] | None]] = [
        ("DELETE FROM baselines WHERE analytic = ?", [analytic]),
        ("DELETE FROM analytic_ingests WHERE analytic = ?", [analytic]),
    ]
    out += [(f"DELETE FROM {t}", None) for t in state_tables]
    return out


# --------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------
BASELINE_SCHEMA = pa.schema([
    ("analytic", pa.string()), ("key", pa.string()), ("first_seen", pa.timestamp("us", tz="UTC")),
    ("last_seen", pa.timestamp("us", tz="UTC")), ("count", pa.int64()), ("hosts", pa.int64()),
    ("value", pa.string()),
])


def load_baselines(writer: StoreWriter, analytic: str, key_prefix: str | None = None) -> pa.Table:
    """An analytic's baseline rows (optionally only keys starting with `key_prefix`)."""
    if key_prefix is None:
        t = writer.read_state("SELECT * FROM baselines WHERE analytic = ?", [analytic])
    else:
        t = writer.read_state("SELECT * FROM baselines WHERE analytic = ? AND starts_with(key, ?)",
                              [analytic, key_prefix])
    return t.cast(BASELINE_SCHEMA) if t.num_rows else BASELINE_SCHEMA.empty_table()


def upsert_baselines_statement(relation: str) -> tuple[str, None]:
    """Upsert rows of a registered relation shaped like `baselines` (the caller merged old + new)."""
    return (f"INSERT OR REPLACE INTO baselines SELECT analytic, key, first_seen, last_seen, count, hosts, value "
            f"FROM {relation}", None)


def register_empty_baselines(session: Session, name: str) -> None:
    session.register(name, BASELINE_SCHEMA.empty_table())


def meta_time(writer: StoreWriter, analytic: str, key: str) -> datetime | None:
    """first_seen of a baseline row (used for the start of an analytic's learning period)."""
    t = writer.read_state("SELECT first_seen FROM baselines WHERE analytic = ? AND key = ?", [analytic, key])
    return parse_time(t.column(0)[0].as_py()) if t.num_rows else None


@dataclass(frozen=True)
class Learning:
    """When an analytic's baseline started and whether its learning period is over at a time."""

    start: datetime | None
    days: float

    def learned_at(self, t: datetime | None) -> bool:
        if self.start is None or t is None:
            return False
        return t >= self.start + timedelta(days=self.days)

    @property
    def until(self) -> datetime | None:
        return None if self.start is None else self.start + timedelta(days=self.days)

    def note(self, times: list[datetime], rules: str) -> str | None:
        """The run-report line for new events (`times`) that fall inside the learning period, or None.

        A short recording (minutes of logs) in a store with no history is entirely inside it: first-seen
        rules stay silent there, on purpose (everything is "first seen" in a recording with no past), and
        the analyst is told so rather than left to read silence as "nothing unusual"."""
        until = self.until
        if self.start is None or until is None or not times or min(times) >= until:
            return None
        newest = max(times)
        history = max(0.0, (newest - self.start).total_seconds() / 86400)
        scope = "the new events" if newest < until else f"the new events before {until:%Y-%m-%d %H:%M}Z"
        return (f"baseline learning for {self.days:g} days from {self.start:%Y-%m-%d %H:%M}Z ({history:.2f} days "
                f"of history so far): first-seen rules ({rules}) were not applied to {scope}; content rules were. "
                "To hunt in a lone recording with no history, --set analytics.learn_days=0 reports every "
                "key of the recording as first seen.")


def learning(writer: StoreWriter, analytic: str, new_min_time: datetime | None, days: float) -> tuple[Learning, Any]:
    """The learning period of an analytic: starts at the earliest event it ever folded.

    Returns the period and the `(sql, params)` upserting the `__start__` row when the new
    data moves the start earlier (data ingested out of order)."""
    start = meta_time(writer, analytic, "__start__")
    stmt = None
    if new_min_time is not None and (start is None or new_min_time < start):
        start = new_min_time
        stmt = ("INSERT OR REPLACE INTO baselines VALUES (?, '__start__', ?, ?, 0, 0, NULL)",
                [analytic, start, start])
    return Learning(start, days), stmt


# --------------------------------------------------------------------------------------
# Evidence and findings
# --------------------------------------------------------------------------------------
def evidence_list(value: Any, limit: int = 20) -> tuple[Evidence, ...]:
    """Evidence from a JSON text / list of objects built with the `aw_evidence` macro."""
    if value is None:
        return ()
    items = orjson.loads(value) if isinstance(value, (str, bytes)) else value
    out: list[Evidence] = []
    seen: set[str] = set()
    for it in _flatten(items):
        if not isinstance(it, Mapping):
            continue
        key = str(it.get("event_id") or f"{it.get('source')}:{it.get('record')}")
        if key in seen:
            continue
        seen.add(key)
        rec = it.get("record")
        out.append(Evidence(str(it.get("source") or ""), int(rec) if rec is not None else None,
                            str(it.get("table") or ""), parse_time(it.get("time")), it.get("event_id")))
        if len(out) >= limit:
            break
    return tuple(sorted(out, key=lambda e: (e.time or datetime.min.replace(tzinfo=UTC), e.source, e.record or 0)))


def _flatten(items: Any) -> Iterator[Any]:
    if isinstance(items, str):
        try:
            items = orjson.loads(items)
        except orjson.JSONDecodeError:
            return
    if isinstance(items, list):
        for x in items:
            yield from _flatten(x)
    elif items is not None:
        yield items


def in_time_range(ctx: DetectContext, t: datetime | None) -> bool:
    """`--since/--until` restrict which findings are reported (baselines fold everything new)."""
    s = ctx.settings
    if t is None:
        return True
    if s.since and t < s.since:
        return False
    return not (s.until and t > s.until)


def clamp01(x: float) -> float:
    if math.isnan(x):
        return 0.0
    return max(0.0, min(1.0, x))


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Arrow result -> row dicts (results of analytics are small: candidate findings, not events)."""
    out: list[dict[str, Any]] = table.to_pylist()
    return out


# --------------------------------------------------------------------------------------
# Data files
# --------------------------------------------------------------------------------------
def data_path(name: str) -> Path:
    return Path(str(resources.files("aptwatch.detect.analytics").joinpath("data", name)))


@cache
def data_lines(name: str) -> tuple[str, ...]:
    """Non-empty, non-comment lines of a bundled data file (lower-cased, stripped)."""
    out: list[str] = []
    for line in data_path(name).read_text(encoding="utf-8").splitlines():
        s = line.split("#", 1)[0].strip().lower()
        if s:
            out.append(s)
    return tuple(out)


def domain_table(names: Iterable[str], column: str = "domain") -> pa.Table:
    return pa.table({column: pa.array(sorted({n.strip(".").lower() for n in names if n}), pa.string())})


def domain_match_sql(name_col: str, relation: str, column: str = "domain") -> str:
    """SQL predicate: `name_col` equals a domain of `relation` or is below one."""
    return (f"EXISTS (SELECT 1 FROM {relation} dm WHERE {name_col} = dm.{column} "
            f"OR ends_with({name_col}, '.' || dm.{column}))")


# --------------------------------------------------------------------------------------
# Public Suffix List -> registered domain, in SQL
# --------------------------------------------------------------------------------------
@cache
def psl_table() -> pa.Table:
    """Rules of the Public Suffix List bundled with `publicsuffixlist` (ICANN and private sections).

    Private suffixes are kept on purpose: `x.duckdns.org` and `abc.ngrok.io` are registrable by
    anyone, so an attacker's tunnel domain is the name under them, not the service.
    """
    import publicsuffixlist

    path = Path(publicsuffixlist.__file__).with_name("public_suffix_list.dat")
    suffixes: list[str] = []
    kinds: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if not s or s.startswith("//"):
            continue
        s = s.split()[0].lower()
        kind = "exact"
        if s.startswith("!"):
            kind, s = "except", s[1:]
        elif s.startswith("*."):
            kind, s = "wild", s[2:]
        for form in {s, _idna(s)}:
            if form:
                suffixes.append(form)
                kinds.append(kind)
    return pa.table({"suffix": suffixes, "kind": kinds})


def _idna(s: str) -> str | None:
    try:
        return s.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def register_psl(session: Session) -> None:
    session.register("aw_psl", psl_table())


def registered_domain_sql(names_relation: str, name_col: str = "name") -> str:
    """SELECT name, domain (eTLD+1, NULL when the name is a public suffix or empty) for the distinct
    names of a relation. Names are expected lower case without the trailing dot."""
    return f"""
        WITH n AS (SELECT DISTINCT {name_col} AS name, string_split({name_col}, '.') AS l
                   FROM {names_relation} WHERE {name_col} IS NOT NULL AND {name_col} <> ''),
        c AS (SELECT name, l, j, array_to_string(l[j:], '.') AS s,
                     CASE WHEN j < len(l) THEN array_to_string(l[j + 1:], '.') END AS parent
              FROM (SELECT name, l, unnest(range(1, len(l) + 1)) AS j FROM n)),
        m AS (SELECT c.name, c.l,
                     min(CASE WHEN ex.suffix IS NOT NULL THEN c.j + 1
                              WHEN px.suffix IS NOT NULL OR pw.suffix IS NOT NULL THEN c.j END) AS start
              FROM c
              LEFT JOIN aw_psl ex ON ex.kind = 'except' AND ex.suffix = c.s
              LEFT JOIN aw_psl px ON px.kind = 'exact' AND px.suffix = c.s
              LEFT JOIN aw_psl pw ON pw.kind = 'wild' AND pw.suffix = c.parent
              GROUP BY c.name, c.l)
        SELECT name, CASE WHEN coalesce(start, len(l)) > 1
                          THEN array_to_string(l[coalesce(start, len(l)) - 1:], '.') END AS domain
        FROM m
    """


def utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def jdump(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


# --------------------------------------------------------------------------------------
# Rarity baselines: key -> first/last seen, count, the hosts that had it
# --------------------------------------------------------------------------------------
#: hosts remembered per key (the `hosts` column counts them, saturating here)
MAX_HOSTS = 64


def fold_rarity(session: Session, writer: StoreWriter, analytic: str, observations: str, *,
                rebuild: bool = False) -> tuple[pa.Table, tuple[str, Any], dict[str, pa.Table]]:
    """Fold observations into an analytic's rarity baseline.

    `observations` is a SQL query with columns key, host, time, source, record, table_name, event_id and
    optionally detail (any VARCHAR kept as an example). Returns one row per key observed now, with the
    baseline before this run (`known`, `old_count`, `old_hosts`, `old_first_seen`) and after it (`count`,
    `hosts`, `host_list`, `first_seen`, `last_seen`), the first new event (`ev`, `ev_time`) and the new
    `new_hosts` list; the upsert statement and the Arrow tables it reads (the caller runs it with its other
    state changes through `StoreWriter.write_state`, so the baseline and the folding record move together).
    """
    old = load_baselines(writer, "__none__" if rebuild else analytic)
    session.register(f"aw_old_{analytic}", old)
    merged = session.sql(f"""
        WITH o AS (SELECT key, first_seen, last_seen, count,
                          coalesce(CAST(json_extract(value, '$.hosts') AS VARCHAR[]), []) AS hl
                   FROM aw_old_{analytic} WHERE key NOT LIKE '\\_\\_%' ESCAPE '\\'),
        n AS (SELECT key, min(time) AS first_new, max(time) AS last_new, count(*) AS n,
                     list_distinct(list(host) FILTER (WHERE host IS NOT NULL))[1:{MAX_HOSTS}] AS new_hosts,
                     arg_min(struct_pack(source := source, record := record, table_name := table_name,
                                         time := time, event_id := event_id), time) AS ev,
                     arg_min(detail, time) AS detail
              FROM ({observations}) WHERE key IS NOT NULL AND time IS NOT NULL GROUP BY key)
        SELECT n.key, o.key IS NOT NULL AS known, coalesce(o.count, 0) AS old_count,
               len(coalesce(o.hl, [])) AS old_hosts,
               o.first_seen AS old_first_seen, n.n AS new_count, n.new_hosts, n.ev, n.first_new AS ev_time, n.detail,
               least(o.first_seen, n.first_new) AS first_seen, greatest(o.last_seen, n.last_new) AS last_seen,
               coalesce(o.count, 0) + n.n AS count,
               list_distinct(list_concat(coalesce(o.hl, []), n.new_hosts))[1:{MAX_HOSTS}] AS host_list
        FROM n LEFT JOIN o USING (key)
    """)
    session.register(f"aw_rarity_{analytic}", merged)
    upsert = (f"""INSERT OR REPLACE INTO baselines
                  SELECT {lit(analytic)}, key, first_seen, last_seen, count, len(host_list),
                         CAST(to_json({{'hosts': host_list}}) AS VARCHAR)
                  FROM aw_rarity_{analytic}""", None)
    hosts = pa.array([len(h or []) for h in merged.column("host_list").to_pylist()], pa.int64())
    slim = merged.select(["key", "first_seen", "last_seen", "count", "host_list"])
    return merged.append_column("hosts", hosts), upsert, {f"aw_rarity_{analytic}": slim}


def evidence_of(ev: Mapping[str, Any] | None) -> tuple[Evidence, ...]:
    """One Evidence from the `ev` struct of `fold_rarity` rows."""
    if not ev:
        return ()
    return (Evidence(str(ev.get("source") or ""), ev.get("record"), str(ev.get("table_name") or ""),
                     utc(ev.get("time")), ev.get("event_id")),)


@cache
def data_csv(name: str) -> tuple[dict[str, str], ...]:
    """Rows of a bundled CSV data file (lines starting with '#' are comments)."""
    import csv

    text = data_path(name).read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return tuple(dict(r) for r in csv.DictReader(lines))


def hosts_for_ips(writer: StoreWriter, ips: Iterable[str | None]) -> dict[str, str]:
    """Host keys of addresses from the address context (`host_addresses`, resolved by its AddressBook), so
    network findings carry the `host` entity that host telemetry uses and campaigns can link them."""
    from aptwatch.context.addresses import AddressBook

    wanted = sorted({i for i in ips if i})
    if not wanted:
        return {}
    book = AddressBook.load(writer.store)  # the address context's own precedence rules (docs/sources.md)
    out: dict[str, str] = {}
    for ip in wanted:
        host = book.resolve(ip)
        if host:
            out[ip] = host
    return out
