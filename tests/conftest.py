"""Shared fixtures. Data from ../shared/data is used when present; tests that need it skip
with a reason, except when APTWATCH_REQUIRE_SHARED=1 (set by .ci/run), where they fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("APTWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip (fail when APTWATCH_REQUIRE_SHARED=1)."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        msg = f"needs ../shared/data/{'/'.join(parts)} (not present: {p})"
        if os.environ.get("APTWATCH_REQUIRE_SHARED") == "1":
            pytest.fail(msg + "; APTWATCH_REQUIRE_SHARED=1 makes this a failure")
        pytest.skip(msg)
    return p


@pytest.fixture
def shared() -> type:
    """`shared("evtx-attack-samples")` -> Path, or skip/fail as above."""

    class _S:
        def __call__(self, *parts: str) -> Path:
            return shared_path(*parts)

    return _S()  # type: ignore[return-value]


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"
