"""Every stored value of every row and warning the Linux text sources produce for the real Linux
files and the fixtures equals the reference digests (tests/sources/linuxdigest.py): speed work
must not change a single row, column or warning."""

from __future__ import annotations

from tests.conftest import shared_path
from tests.sources.linuxdigest import digest_all, read_golden


def test_linux_rows_equal_the_reference_digests() -> None:
    for name in ("otrf-atomic", "otrf-compound"):
        shared_path(name)  # skip (or fail in CI) when absent
    golden = read_golden()
    got = {name: (src, events, dig) for name, src, events, dig in digest_all()}
    diffs = [f"{name}: got {got.get(name)}, reference {ref}" for name, ref in golden.items() if got.get(name) != ref]
    diffs += [f"{name}: not in the reference" for name in got.keys() - golden.keys()]
    assert not diffs, "\n".join(diffs[:20])
    assert len(got) >= 120
    assert sum(events for _src, events, _dig in got.values()) > 4000
