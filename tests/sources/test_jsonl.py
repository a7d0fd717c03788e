"""Generic JSON lines: golden, truncated / garbled input, and fuzz."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, SourceRef
from aptwatch.sources.jsonl import JsonLines

GOLDEN = (
    b'{"@timestamp": "2024-03-01T10:00:00.5Z", "host": {"name": "WS01.corp.example"}, "EventID": 4624}\n'
    b'{"@timestamp": 1709287201, "host": {"name": "10.0.0.7"}, "EventID": "4625", "Channel": "Security"}\n'
    b"\n"
    b'{"@timestamp": 1709287202123, "host": {"name": "-"}}\n'
)


def read(path: Path) -> tuple[pa.Table, list[IngestWarning]]:
    ctx = ReadContext(SourceRef(str(path)), "0" * 64, path.stat().st_size)
    batches: list[pa.Table] = []
    warnings: list[IngestWarning] = []
    for item in JsonLines().read(ctx):
        if isinstance(item, TableBatch):
            assert item.table == "generic"
            batches.append(item.data)
        else:
            warnings.append(item)
    table = pa.concat_tables(batches) if batches else pa.table({})
    return table, warnings


def test_sniff() -> None:
    src = JsonLines()
    assert src.sniff(GOLDEN, "x.json")
    assert not src.sniff(b"#separator \\x09\n#fields\tts\n", "conn.log")
    assert not src.sniff(b"[1, 2]\n", "x.json")
    assert not src.sniff(b"", "x")


def test_golden(tmp_path: Path) -> None:
    p = tmp_path / "g.jsonl"
    p.write_bytes(GOLDEN)
    t, warnings = read(p)
    assert warnings == []
    rows = t.to_pylist()
    assert [r["record"] for r in rows] == [1, 2, 4]  # line numbers; the blank line is skipped, not counted as bad
    assert [r["time"] for r in rows] == [
        datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC),
        datetime(2024, 3, 1, 10, 0, 1, tzinfo=UTC),
        datetime(2024, 3, 1, 10, 0, 2, 123000, tzinfo=UTC),
    ]
    assert [r["host"] for r in rows] == ["ws01", "10.0.0.7", None]
    assert [r["event_code"] for r in rows] == [4624, 4625, None]
    assert rows[1]["channel"] == "Security"
    assert rows[0]["raw"] == GOLDEN.split(b"\n")[0].decode()


def test_truncated_and_garbled(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_bytes(GOLDEN[:-20])  # the last record cut mid-way
    t, warnings = read(p)
    assert t.num_rows == 2
    assert [(w.reason, w.position) for w in warnings] == [("bad_json", 4)]
    garbled = bytearray(GOLDEN)
    garbled[0] = 0xFF  # the opening brace of record 1 becomes an invalid byte
    p.write_bytes(bytes(garbled))
    t, warnings = read(p)
    assert t.num_rows == 2 and {w.reason for w in warnings} == {"bad_encoding", "bad_json"}


records = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["@timestamp", "host", "EventID", "x", "time"]), records,
                                max_size=4), min_size=1, max_size=20),
       st.lists(st.binary(max_size=40), max_size=5))
def test_fuzz_never_raises_and_accounts_for_every_line(tmp_path: Path, objs: list[dict[str, object]],
                                                       junk: list[bytes]) -> None:
    lines = [orjson.dumps(o) for o in objs] + [j.replace(b"\n", b" ") for j in junk]
    p = tmp_path / "f.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    t, warnings = read(p)
    nonblank = sum(1 for ln in io.BytesIO(p.read_bytes()).read().split(b"\n")[:-1] if ln.strip(b"\r") != b"")
    bad_lines = {w.position for w in warnings if w.reason in ("bad_json", "not_object")}
    assert t.num_rows + len(bad_lines) >= len(objs)
    assert t.num_rows + len(bad_lines) <= nonblank


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(
    st.text(alphabet="0123456789:.-+eETZ x", max_size=30),
    st.from_regex(r"20[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
                  r"(Z|[+-][01][0-9]:00)?", fullmatch=True),
    st.integers(min_value=10**7, max_value=10**17).map(str)), min_size=1, max_size=60))
def test_time_sql_shortcut_for_texts_with_a_colon_changes_no_value(texts: list[str]) -> None:
    """The ':' shortcut of `time_sql` (no number cast) gives what the full expression gives."""
    import duckdb

    from aptwatch.sources.jsonl import time_sql

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("tv", pa.table({"x": pa.array(texts, pa.string())}))
    full = time_sql("x").replace("WHEN contains(x, ':') THEN TRY_CAST(x AS TIMESTAMPTZ) ", "")
    assert full != time_sql("x")
    fast = con.sql(f"SELECT {time_sql('x')} AS t FROM tv").fetchall()
    assert fast == con.sql(f"SELECT {full} AS t FROM tv").fetchall()
