"""Small simulations shared by the simulator tests (module scope keeps the suite fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptwatch.simulate.config import SimulationConfig
from aptwatch.simulate.engine import SimulationReport, simulate

#: small enough to run in about a second, long enough for every stage of a compressed campaign
SMALL = {"hosts": 14, "days": 4, "seed": 11}


def run_small(out: Path, **kw: object) -> SimulationReport:
    args: dict[str, object] = {**SMALL, "campaign_start_days": (0,)}
    args.update(kw)
    return simulate(SimulationConfig(**args), out)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def wlb(tmp_path_factory: pytest.TempPathFactory) -> SimulationReport:
    """winlogbeat output with an APT29 campaign."""
    return run_small(tmp_path_factory.mktemp("wlb") / "sim", profiles=("apt29",))


@pytest.fixture(scope="module")
def otrf(tmp_path_factory: pytest.TempPathFactory) -> SimulationReport:
    """OTRF (NXLog) output with an APT28 campaign."""
    return run_small(tmp_path_factory.mktemp("otrf") / "sim", profiles=("apt28",), windows_format="otrf")
