"""OTRF LSASS_campaign_01 (host and Zeek logs of one intrusion): every finding the registered detectors
raise on the recording lands in one campaign, and exactly one campaign is detected. The evaluation over
the three recordings, with stages against the recordings' metadata, is bench/eval_otrf_lsass.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_path

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def test_lsass_campaign_01_is_one_campaign(tmp_path: Path) -> None:
    shared_path("otrf-compound", "LSASS_campaign_01")
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import eval_otrf_lsass
    finally:
        sys.path.pop(0)
    r = eval_otrf_lsass.run("LSASS_campaign_01", tmp_path)
    if r.findings == 0:
        pytest.skip("no registered detector raises findings on this recording")
    assert r.campaigns == 1 and r.detected == 1
    assert r.main_findings == r.findings  # every finding of the recording in it
    assert "escalate_privileges" in r.stages  # the LSASS access
