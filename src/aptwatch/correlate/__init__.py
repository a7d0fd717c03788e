"""Correlation: findings -> entity links -> campaigns along the kill chain, with dwell time.

See docs/campaigns.md. Entry point: `correlate(store)` (engine.py), run by `aptwatch correlate`
and `aptwatch hunt`; `replay.py` drives detection and correlation through time slices.
"""

from __future__ import annotations

from aptwatch.correlate.engine import CorrelateReport, correlate
from aptwatch.correlate.settings import CorrelateSettings

__all__ = ["CorrelateReport", "CorrelateSettings", "correlate"]
