"""The simulated files parse with aptwatch's own parsers: every file a registered source claims
is read completely, without warnings, into the tables its events belong to."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptwatch.ingest import ingest
from aptwatch.simulate.engine import SimulationReport
from aptwatch.sources import detect_format
from aptwatch.sources.base import HEAD_BYTES
from aptwatch.store import Store


def _data_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("fixture", ["wlb", "otrf"])
def test_every_claimed_file_is_read_completely(fixture: str, request: pytest.FixtureRequest,
                                               tmp_path: Path) -> None:
    report: SimulationReport = request.getfixturevalue(fixture)
    files = sorted(p for p in (report.out / "logs").rglob("*") if p.is_file())
    claimed: dict[Path, str] = {}
    for p in files:
        with open(p, "rb") as f:
            src = detect_format(f.read(HEAD_BYTES), p.name)
        if src is not None:
            claimed[p] = src.name
    zeek = [p for p in files if "/zeek/" in str(p)]
    windows = [p for p in files if "/windows/" in str(p)]
    assert all(p in claimed for p in windows)  # at least the generic JSON-lines source reads them
    store = Store.open(tmp_path / "store", create=True)
    ingest(store, list(claimed))
    with store.session(with_state=True) as s:
        per_source = {r["source"]: r["n"] for r in s.sql("SELECT source, count(*) AS n FROM events GROUP BY ALL")
                      .to_pylist()}
        warnings = s.sql("SELECT source, reason, count(*) AS n FROM warnings GROUP BY ALL").to_pylist()
    assert not warnings, warnings
    for p, name in claimed.items():
        assert per_source.get(str(p), 0) == _data_lines(p), (p, name)
    if any(claimed.get(p, "").startswith("zeek") for p in zeek):
        assert all(claimed.get(p, "").startswith("zeek") for p in zeek)
