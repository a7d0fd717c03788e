"""Digests of everything the Windows sources produce for real datasets: every row (every column,
including `data` and `raw`) and every warning, per source file.

tests/sources/data/windows_golden.tsv holds the digests produced by the reference implementation
(the code before the speed work of docs/benchmarks.md "Windows ingest speed"); a test recomputes
them, so a change to any stored value of any event fails loudly and names the source file.

    python -m tests.sources.windigest [--all] > tests/sources/data/windows_golden.tsv

rewrites the file (only when a change of stored values is intended; say why in the commit).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.ingest import discover, fingerprint
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources import SOURCES, detect_format
from aptwatch.sources.base import ReadContext, SourceRef

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("APTWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
GOLDEN = Path(__file__).parent / "data" / "windows_golden.tsv"
WINDOWS_FORMATS = frozenset({"evtx", "evtx_json", "otrf", "nxlog", "winlogbeat", "azure_windows", "winevent_xml"})

#: the subset of OTRF datasets checked in the regular suite (one per export shape and the largest
#: event mixes); `--all` / the slow test take every Windows dataset of otrf-atomic and otrf-compound
OTRF_SUBSET = (
    "otrf-atomic/windows/discovery/host/cmd_discover_iexplorer_version_registry",
    "otrf-atomic/windows/other/raccine_samples",
    "otrf-atomic/windows/persistence/host/covenant_persistwmi.tar.gz",
    "otrf-atomic/windows/lateral_movement/host/covenant_dcom_iertutil_dll_hijack.zip",
    "otrf-atomic/windows/persistence/host/empire_persistence_registry_modification_run_keys_standard_user.zip",
    "otrf-atomic/windows/defense_evasion/host/psh_mavinject_dll_notepad",
    "otrf-compound/Log4Shell/securityauditing_log4shell_cve2021_44228_java_serialized_object",
    "otrf-compound/GoldenSAMLADFSMailAccess/WindowsEvents",
    "otrf-compound/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump",
)


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def digest_items(items: Iterator[TableBatch | IngestWarning]) -> tuple[int, str]:
    """(events, digest) of a source's output: rows per table sorted by record, then warnings in order."""
    tables: dict[str, list[pa.Table]] = {}
    warns: list[tuple[str, str, int | None]] = []
    for item in items:
        if isinstance(item, TableBatch):
            tables.setdefault(item.table, []).append(item.data)
        else:
            warns.append((item.reason, item.detail, item.position))
    h = hashlib.sha256()
    events = 0
    for name in sorted(tables):
        t = pa.concat_tables(tables[name], promote_options="default")
        events += t.num_rows
        cols = sorted(t.column_names)
        for row in sorted(t.to_pylist(), key=lambda r: r["record"]):
            h.update(orjson.dumps([name, [(c, _plain(row[c])) for c in cols]]))
    # warnings in the order the source gives them, except within a batch of the same position
    h.update(orjson.dumps(sorted(warns, key=lambda w: (w[0], w[1], -1 if w[2] is None else w[2]))))
    return events, h.hexdigest()[:32]


def digest_paths(paths: list[Path]) -> Iterator[tuple[str, str, int, str]]:
    """(source relative to shared/data, format, events, digest) of every Windows source under paths."""
    for ref in discover(paths):
        if not isinstance(ref, SourceRef):
            continue
        sha, size, head = fingerprint(ref)
        src = detect_format(head, ref.name)
        if src is None or src.name not in WINDOWS_FORMATS:
            continue
        ctx = ReadContext(ref, sha, size)
        try:
            events, dig = digest_items(SOURCES[src.name].read(ctx))
        finally:
            ctx.cleanup()
        yield os.path.relpath(ref.display, SHARED), src.name, events, dig


def inputs(everything: bool) -> list[Path]:
    """The datasets digested: evtx-attack-samples and the OTRF subset (or every OTRF dataset)."""
    if everything:
        otrf = [SHARED / "otrf-atomic" / "windows", SHARED / "otrf-compound"]
    else:
        otrf = [SHARED / p for p in OTRF_SUBSET]
    return [SHARED / "evtx-attack-samples", *otrf]


def read_golden() -> dict[str, tuple[str, int, str]]:
    out: dict[str, tuple[str, int, str]] = {}
    for line in GOLDEN.read_text().splitlines():
        if line and not line.startswith("#"):
            path, fmt, events, dig = line.split("\t")
            out[path] = (fmt, int(events), dig)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--all", action="store_true", help="every OTRF Windows dataset, not the subset")
    a = ap.parse_args()
    sys.stdout.write("# source\tformat\tevents\tdigest (tests/sources/windigest.py)\n")
    for path, fmt, events, dig in digest_paths(inputs(a.all)):
        sys.stdout.write(f"{path}\t{fmt}\t{events}\t{dig}\n")


if __name__ == "__main__":
    main()
