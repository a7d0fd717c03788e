"""Every Zeek log in ../shared/data/stratosphere-zeek and ../shared/data/otrf-compound: stored rows ==
data lines, per-log-type counts as documented in docs/sources.md, and uid linkage across logs.

`python -m tests.sources.test_zeek_datasets` prints the per-type table for docs/sources.md.
"""

from __future__ import annotations

import gzip
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from aptwatch.sources import detect_format
from tests.conftest import REPO, shared_path
from tests.sources.netutil import count, head_of, run

DATASETS = ("stratosphere-zeek", "otrf-compound")


def data_lines(path: Path, fmt: str) -> int:
    """Data lines counted independently of the parser: non-blank, and for TSV not a '#' header."""
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    lines = [ln.strip(b" \t\r\xef\xbb\xbf") for ln in raw.split(b"\n")]
    if fmt == "zeek_tsv":
        return sum(1 for ln in lines if ln and not ln.startswith(b"#"))
    return sum(1 for ln in lines if ln)


def zeek_files(root: Path) -> list[tuple[Path, str]]:
    out = []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        src = detect_format(head_of(p), p.name.removesuffix(".gz"))
        if src is not None and src.name in ("zeek_tsv", "zeek_json"):
            out.append((p, src.name))
    return out


def collect(root: Path) -> tuple[Counter[tuple[str, str, str]], list[str]]:
    """(dataset, log path, table) -> stored rows; and mismatches between stored rows and data lines."""
    from aptwatch.sources import SOURCES

    counts: Counter[tuple[str, str, str]] = Counter()
    problems = []
    for p, fmt in zeek_files(root):
        tables, _warnings = run(SOURCES[fmt], p)
        stored, expected = count(tables), data_lines(p, fmt)
        if stored != expected:
            problems.append(f"{p}: stored {stored} != {expected} data lines")
        for table, t in tables.items():
            for channel, n in Counter(t.column("channel").to_pylist()).items():
                counts[(root.name, str(channel), table)] += n
    return counts, problems


@pytest.mark.shared
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_zeek_log_stores_one_row_per_data_line(dataset: str) -> None:
    root = shared_path(dataset)
    counts, problems = collect(root)
    assert problems == []
    assert counts, f"no Zeek logs found under {root}"
    documented = documented_counts()
    ours = {k: v for k, v in counts.items() if k[0] == dataset}
    assert ours == {k: v for k, v in documented.items() if k[0] == dataset}, (
        "docs/sources.md per-type counts are stale: run `python -m tests.sources.test_zeek_datasets`")


@pytest.mark.shared
def test_records_of_one_connection_link_by_uid() -> None:
    from aptwatch.sources import SOURCES

    logs = shared_path("otrf-compound", "LSASS_campaign_01", "metasploit_logonpasswords_lsass_memory_dump_zeek_logs")
    conn, _ = run(SOURCES["zeek_tsv"], logs / "conn.log")
    uids = set(conn["network"].column("flow_id").to_pylist())
    linked = 0
    for name in ("dns.log", "http.log", "kerberos.log", "ssl.log", "files.log", "smb_mapping.log"):
        tables, _ = run(SOURCES["zeek_tsv"], logs / name)
        for t in tables.values():
            ids = {u for u in t.column("flow_id").to_pylist() if u}
            assert ids and ids <= uids, name
            linked += len(ids)
    assert linked > 50


_ROW = re.compile(r"^\| (\S+) \| `([^`]+)` \| `([^`]+)` \| ([0-9,]+) \|$")


def documented_counts() -> Counter[tuple[str, str, str]]:
    text = (REPO / "docs" / "sources.md").read_text()
    out: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            out[(m.group(1), m.group(2), m.group(3))] = int(m.group(4).replace(",", ""))
    return out


def main() -> None:
    """Print the per-type table for docs/sources.md."""
    print("| dataset | Zeek log | table | rows |")
    print("|---|---|---|---|")
    for dataset in DATASETS:
        counts, problems = collect(shared_path(dataset))
        for p in problems:
            print("MISMATCH", p, file=sys.stderr)
        for (ds, channel, table), n in sorted(counts.items()):
            print(f"| {ds} | `{channel}` | `{table}` | {n:,} |")


if __name__ == "__main__":
    main()
