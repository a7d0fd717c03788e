"""Helpers shared by the network sources: host key from endpoints, raw attachment, time SQL."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from aptwatch.sources.base import IngestSettings
from aptwatch.sources.netbase import AddressContext, attach_raw, endpoint_hosts, epoch_time_sql, parse_networks


def test_host_is_the_internal_endpoint() -> None:
    ctx = AddressContext(parse_networks(IngestSettings().internal_networks))
    orig = pa.array(["10.0.0.5", "203.0.113.9", "203.0.113.9", "192.168.1.7", None, "::ffff:172.16.0.4", "fe80::1"])
    resp = pa.array(["8.8.8.8", "10.0.0.9", "198.51.100.1", "10.0.0.1", "10.0.0.2", "1.1.1.1", "ff02::1"])
    assert endpoint_hosts(orig, resp, ctx).to_pylist() == [
        "10.0.0.5",      # outbound: the originator
        "10.0.0.9",      # inbound attack: the internal responder
        "203.0.113.9",   # neither internal: the originator
        "192.168.1.7",   # internal to internal (lateral movement): the originator
        "10.0.0.2",      # no originator
        "172.16.0.4",  # IPv4-mapped IPv6 in an RFC 1918 range: the host key is its IPv4 form
        "fe80::1",       # link-local
    ]
    custom = AddressContext(parse_networks(("203.0.113.0/24",)))
    assert endpoint_hosts(pa.array(["10.0.0.5"]), pa.array(["203.0.113.9"]), custom).to_pylist() == ["203.0.113.9"]


def test_memo_is_bounded() -> None:
    ctx = AddressContext(parse_networks(("10.0.0.0/8",)), limit=10)
    for i in range(50):
        assert ctx.internal(f"10.0.0.{i}") and not ctx.internal(f"11.0.0.{i}")
    assert len(ctx._memo) <= 10
    assert not ctx.internal("not-an-ip") and not ctx.internal(None)


def test_attach_raw_keeps_order_or_matches_by_record() -> None:
    seg = pa.table({"record": [3, 4, 5], "line": ["a", "b", "c"]})
    same = attach_raw(pa.table({"record": [3, 4, 5], "x": [1, 2, 3]}), seg)
    assert same.column("raw").to_pylist() == ["a", "b", "c"]
    shuffled = attach_raw(pa.table({"record": [5, 3, 4], "x": [3, 1, 2]}), seg)
    assert shuffled.to_pydict() == {"record": [3, 4, 5], "x": [1, 2, 3], "raw": ["a", "b", "c"]}


def test_epoch_time_sql_is_exact_and_tolerant() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    got = [con.sql(f"SELECT {epoch_time_sql(repr(v))}").fetchall()[0][0]
           for v in ("1655071198.444458", "2022-09-29T14:40:56.755299Z", "-", "nan", "1e300", "")]
    assert got[0] == datetime(2022, 6, 12, 21, 59, 58, 444458, tzinfo=UTC)
    assert got[1] == datetime(2022, 9, 29, 14, 40, 56, 755299, tzinfo=UTC)
    assert got[2:] == [None, None, None, None]
