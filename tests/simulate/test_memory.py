"""Bounded memory: what the simulator holds does not grow with the number of days."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys
from pathlib import Path
from aptwatch.simulate.config import SimulationConfig
from aptwatch.simulate.engine import simulate
r = simulate(SimulationConfig(hosts=16, days=int(sys.argv[2]), seed=5, noise=0.4, profiles=("apt41",),
                              campaign_start_days=(0,)), Path(sys.argv[1]))
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "pending": r.peak_pending,
                  "events": r.events}))
"""


def _run(out: Path, days: int) -> dict[str, int]:
    res = subprocess.run([sys.executable, "-c", CHILD, str(out), str(days)], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_memory_is_flat_as_days_grow(tmp_path: Path) -> None:
    short = _run(tmp_path / "short", 2)
    long = _run(tmp_path / "long", 10)
    assert long["events"] > 4 * short["events"]
    # the event heap only holds what is later than the running activity
    assert long["pending"] < short["pending"] * 1.5 + 200
    # peak RSS stays flat (interpreter + imports dominate; allow noise)
    assert long["rss_kb"] < short["rss_kb"] * 1.25 + 15_000
