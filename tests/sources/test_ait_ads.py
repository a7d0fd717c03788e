"""AIT-ADS alert CSV: golden, quoting, truncated / garbled input, fuzz, and every real scenario file."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.ingest import ingest
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources import detect_format
from aptwatch.sources.ait_ads import AitAdsCsv
from aptwatch.sources.base import ReadContext, SourceRef
from aptwatch.store import Store
from tests.tablerows import table_rows

# Lines in the data set's own shape (analyze.py output), written for this test.
GOLDEN = (
    "time,name,ip,host,short,time_label,event_label\n"
    "1642723347,Wazuh: ClamAV database update,172.19.130.4,mail,W-Sys-Cav,false_positive,-\n"
    "1642999040,Suricata: Alert - ET SCAN Possible Nmap User-Agent Observed,172.19.130.68,webserver,S-Flw-Nmp,"
    "service_scans,service_scan\n"
    "1643001501,AMiner: High entropy in DNS domain.,192.168.231.254,inet-dns,A-Dns-Ent,false_positive,-\n"
)
SCENARIOS = ("russellmitchell", "santos", "shaw", "wardbeck")


def read(path: Path) -> tuple[pa.Table, list[IngestWarning]]:
    ctx = ReadContext(SourceRef(str(path)), "0" * 64, path.stat().st_size)
    batches: list[pa.Table] = []
    warnings: list[IngestWarning] = []
    for item in AitAdsCsv().read(ctx):
        if isinstance(item, TableBatch):
            assert item.table == "ids_alert"
            batches.append(item.data)
        else:
            warnings.append(item)
    return (pa.concat_tables(batches) if batches else pa.table({})), warnings


def test_sniff() -> None:
    src = AitAdsCsv()
    assert src.sniff(GOLDEN.encode(), "x_alerts.txt")
    assert src.sniff(b"\xef\xbb\xbfTime,Name,IP,Host,Short\n1,a,b,c,d\n", "x.csv")  # BOM, case
    assert not src.sniff(b"time,name,ip,host\n", "x.csv")
    assert not src.sniff(b"time,name,ip,host,short,name\n", "x.csv")  # duplicate column
    assert not src.sniff(b'{"time": 1}\n', "x.json")
    fmt = detect_format(GOLDEN.encode(), "russellmitchell_alerts.txt")
    assert fmt is not None and fmt.name == "ait_ads_csv"


def test_golden(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text(GOLDEN)
    t, warnings = read(p)
    assert warnings == []
    rows = t.to_pylist()
    assert [r["record"] for r in rows] == [2, 3, 4]  # line numbers
    assert [r["sensor"] for r in rows] == ["wazuh", "suricata", "aminer"]
    first = rows[0]
    assert first["time"] == datetime(2022, 1, 21, 0, 2, 27, tzinfo=UTC)
    assert (first["signature"], first["signature_id"], first["host"], first["host_ip"]) == \
        ("Wazuh: ClamAV database update", "W-Sys-Cav", "mail", "172.19.130.4")
    # ground truth kept under its own names, in data only
    assert orjson.loads(rows[1]["data"]) == {"time_label": "service_scans", "event_label": "service_scan"}
    assert rows[1]["raw"] == GOLDEN.splitlines()[2]


def test_quoting_and_extra_columns(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_text('time,name,ip,host,short,label,note\n'
                 '1642723347,"Suricata: Alert - ET X, with ""quotes""",10.0.0.1,"ws.corp.local",S-X,attack,"a,b"\n')
    t, warnings = read(p)
    assert warnings == []
    (r,) = t.to_pylist()
    assert r["signature"] == 'Suricata: Alert - ET X, with "quotes"'
    assert r["host"] == "ws"  # host key
    assert orjson.loads(r["data"]) == {"label": "attack", "note": "a,b"}


def test_truncated_and_garbled(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(GOLDEN[:-25])  # last row cut mid-way: too few fields
    t, warnings = read(p)
    assert t.num_rows == 2
    assert [(w.reason, w.position) for w in warnings] == [("bad_columns", 4)]
    lines = GOLDEN.encode().split(b"\n")
    lines[1] = lines[1].replace(b"ClamAV", b"Clam\xffAV")  # invalid UTF-8: kept, replaced, warned
    lines[2] = lines[2].replace(b"Suricata", b'"Suricata', 1)  # unbalanced quote
    lines.insert(3, GOLDEN.encode().split(b"\n")[0])  # header repeated (concatenated exports)
    lines.insert(4, b"not-a-time,Wazuh: x,1.2.3.4,h,W-X,a,b")
    p.write_bytes(b"\n".join(lines))
    t, warnings = read(p)
    assert sorted(w.reason for w in warnings) == ["bad_csv", "bad_encoding", "bad_time", "repeated_header"]
    assert t.num_rows == 3 and "Clam\ufffdAV" in t.column("signature").to_pylist()[0]


cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), max_size=15)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(cells, min_size=7, max_size=7), min_size=1, max_size=20),
       st.lists(st.binary(max_size=40), max_size=4))
def test_fuzz_never_raises_and_accounts_for_every_line(tmp_path: Path, rows: list[list[str]],
                                                       junk: list[bytes]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time", "name", "ip", "host", "short", "time_label", "event_label"])
    w.writerows(rows)
    body = buf.getvalue().encode() + b"\n".join(j.replace(b"\n", b" ").replace(b"\r", b" ") for j in junk)
    p = tmp_path / "f.csv"
    p.write_bytes(body)
    t, warnings = read(p)
    dropped = {w.position for w in warnings if w.reason in ("bad_csv", "bad_columns", "repeated_header")}
    data_lines = [ln for ln in body.split(b"\n")[1:] if ln.strip()]
    assert t.num_rows + len(dropped) == len(data_lines)
    assert t.num_rows >= len(rows) - sum(1 for r in rows if ",".join(r).strip() == "")


@pytest.mark.shared
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_file_stored_rows_equal_csv_data_rows(shared: type, store_dir: Path, scenario: str) -> None:
    path = shared("ait-ads", "alerts_csv", f"{scenario}_alerts.txt.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        data_rows = [r for r in reader if r]
    store = Store.open(store_dir, create=True)
    report = ingest(store, [path])
    assert report.by_format == {"ait_ads_csv": len(data_rows)}
    assert report.warnings == 0
    (counts,) = table_rows(store, "SELECT count(*) AS n, count(time) AS timed, count(DISTINCT sensor) AS sensors, "
                                  "count(*) FILTER (WHERE sensor = 'unknown') AS unknown FROM ids_alert")
    assert counts == {"n": len(data_rows), "timed": len(data_rows), "sensors": 3, "unknown": 0}
    # every label value the file holds is in `data`, under the file's own column name
    labels = {(r[5], r[6]) for r in data_rows}
    stored = {(r["t"], r["e"]) for r in table_rows(
        store, "SELECT DISTINCT data->>'time_label' AS t, data->>'event_label' AS e FROM ids_alert")}
    assert stored == labels and header[5:] == ["time_label", "event_label"]
