"""Every stored value of every Windows event of the real datasets equals the reference digests
(tests/sources/windigest.py): speed work must not change a single row, column or warning."""

from __future__ import annotations

import pytest

from tests.conftest import shared_path
from tests.sources.windigest import digest_paths, inputs, read_golden


def _check(everything: bool) -> None:
    for name in ("evtx-attack-samples", "otrf-atomic", "otrf-compound"):
        shared_path(name)  # skip (or fail in CI) when absent
    golden = read_golden()
    seen = 0
    diffs = []
    for path, fmt, events, dig in digest_paths(inputs(everything)):
        seen += 1
        if golden.get(path) != (fmt, events, dig):
            diffs.append(f"{path}: got {(fmt, events, dig)}, reference {golden.get(path)}")
    assert not diffs, "\n".join(diffs[:20])
    assert seen >= (400 if everything else 280)


def test_windows_rows_equal_the_reference_digests() -> None:
    """evtx-attack-samples (277 files) and a subset of OTRF: the regular suite."""
    _check(everything=False)


@pytest.mark.slow
def test_every_otrf_dataset_equals_the_reference_digests() -> None:
    """Every Windows dataset of otrf-atomic and otrf-compound (~820k events)."""
    _check(everything=True)
