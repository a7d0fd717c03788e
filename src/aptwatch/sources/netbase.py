"""Helpers shared by the network sources (Zeek, Suricata EVE, nfdump, Argus, pcap).

- `endpoint_hosts`: the host key of a network record. A sensor has no "reporting host" the way
  a Windows event does, so the host of a connection-oriented record is its *internal* endpoint:
  the originator when it is internal, else the responder when it is internal, else the
  originator. That puts a beacon from 10.0.0.5 and an inbound exploit against 10.0.0.9 on the
  hosts that matter for correlation. The address-context helpers map these addresses to names.
- `DuckRun`: run SQL over an Arrow table in a private DuckDB connection.
- SQL snippets used by several parsers (time from epoch seconds, JSON members for `data`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.model.hosts import host_keys
from aptwatch.model.records import IngestWarning

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: what counts as blank around a line: ASCII whitespace only (Unicode "whitespace" includes
#: control characters such as U+001C, which are content, not blanks)
BLANKS = " \t\r\x0b\x0c"


def parse_networks(cidrs: Sequence[str]) -> tuple[IpNetwork, ...]:
    """The configured internal networks as objects (bad entries are a configuration bug: they raise)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def is_internal(value: str | None, networks: Sequence[IpNetwork]) -> bool:
    """True when `value` is an IP address inside one of `networks` (False for names and junk)."""
    if not value:
        return False
    try:
        addr = ipaddress.ip_address(value.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr.version == n.version and addr in n for n in networks)


def _as_string_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if values.type != pa.string():
        values = pc.cast(values, pa.string())
    return values


class AddressContext:
    """`is_internal` with a memo: one per parser run (a capture sees a few thousand addresses, a
    large log repeats them millions of times). Bounded, so a scan of the whole Internet cannot
    grow it without limit."""

    def __init__(self, networks: Sequence[IpNetwork], limit: int = 200_000) -> None:
        self.networks = tuple(networks)
        self.limit = limit
        self._memo: dict[str, bool] = {}

    def internal(self, value: str | None) -> bool:
        if value is None:
            return False
        hit = self._memo.get(value)
        if hit is None:
            hit = is_internal(value, self.networks)
            if len(self._memo) >= self.limit:
                self._memo.clear()
            self._memo[value] = hit
        return hit


def internal_mask(values: pa.Array | pa.ChunkedArray, networks: Sequence[IpNetwork] | AddressContext) -> pa.Array:
    """Boolean array: is each address internal? Computed once per distinct value (dictionary encode)."""
    ctx = networks if isinstance(networks, AddressContext) else AddressContext(networks)
    arr = _as_string_array(values)
    encoded = pc.dictionary_encode(arr)
    flags = pa.array([ctx.internal(v) for v in encoded.dictionary.to_pylist()], pa.bool_())
    out = flags.take(encoded.indices)
    return pc.fill_null(out, False)


def endpoint_hosts(orig: pa.Array | pa.ChunkedArray, resp: pa.Array | pa.ChunkedArray,
                   networks: Sequence[IpNetwork] | AddressContext) -> pa.Array:
    """Host keys of records with originator / responder addresses (see the module docstring)."""
    ctx = networks if isinstance(networks, AddressContext) else AddressContext(networks)
    o = _as_string_array(orig)
    r = _as_string_array(resp)
    if len(o) == 0:
        return pa.array([], pa.string())
    chosen = pc.if_else(internal_mask(o, ctx), o, pc.if_else(internal_mask(r, ctx), r, pc.coalesce(o, r)))
    return host_keys(chosen)


def sql_str(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def json_key(name: str) -> str:
    """`"name":` as a SQL literal, for building JSON objects with concat_ws."""
    return sql_str(orjson.dumps(name).decode() + ":")


def epoch_time_sql(text: str) -> str:
    """SQL: epoch seconds as text (Zeek `ts`) -> TIMESTAMPTZ, ISO 8601 text accepted too; junk -> NULL.

    Microseconds are exact: epoch seconds before 2^31 fit a double to 0.12 us, so rounding the
    product recovers the written digits.
    """
    num = f"TRY_CAST({text} AS DOUBLE)"
    return (f"(CASE WHEN {num} IS NOT NULL THEN (CASE WHEN isfinite({num}) AND abs({num}) < 1e12 THEN "
            f"make_timestamptz(CAST(round({num} * 1000000) AS BIGINT)) END) "
            f"ELSE TRY_CAST({text} AS TIMESTAMPTZ) END)")


class DuckRun:
    """A private DuckDB connection for one parser run (UTC, bounded threads)."""

    def __init__(self, threads: int = 2) -> None:
        self.con = duckdb.connect(config={"threads": threads})
        self.con.execute("SET TimeZone='UTC'")

    def query(self, sql: str, **tables: pa.Table) -> pa.Table:
        """Run `sql` with the given Arrow tables registered under their keyword names."""
        for name, table in tables.items():
            self.con.register(name, table)
        try:
            return self.con.sql(sql).to_arrow_table()
        finally:
            for name in tables:
                self.con.unregister(name)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DuckRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def bad_json_lines(bad: pa.Table) -> Iterator[IngestWarning]:
    """Warnings for lines (`record`, `line`) that are not JSON objects: `bad_json` or `not_object`."""
    for rec, line in zip(bad.column("record").to_pylist(), bad.column("line").to_pylist(), strict=True):
        reason = "bad_json"
        try:
            if not isinstance(orjson.loads(line), dict):
                reason = "not_object"
        except orjson.JSONDecodeError:
            pass
        yield IngestWarning(reason, IngestWarning.excerpt(line), rec)


def attach_raw(out: pa.Table, seg: pa.Table) -> pa.Table:
    """`out` (the engine's rows for `seg(record, line)`) with `raw` = the input line, without copying
    the text through the engine. DuckDB keeps the row order of a projection, which the record
    numbers confirm; otherwise rows are matched by record."""
    if out.num_rows == seg.num_rows and pc.all(pc.equal(out.column("record"), seg.column("record"))).as_py():
        return out.append_column("raw", seg.column("line"))
    return out.join(seg.select(["record", "line"]).rename_columns(["record", "raw"]), "record").sort_by("record")


def drop_columns(table: pa.Table, names: Sequence[str]) -> pa.Table:
    """`table` without the named columns (missing names ignored)."""
    present = [n for n in names if n in table.column_names]
    return table.drop_columns(present) if present else table
