"""Detectors, registered here with one line each."""

from __future__ import annotations

from aptwatch.detect.base import Detector
from aptwatch.detect.sigma.detector import SigmaDetector
from aptwatch.registry import Registry

DETECTORS: Registry[Detector] = Registry("detector", [
    SigmaDetector(),
])
