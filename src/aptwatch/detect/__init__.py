"""Detectors, registered here with one line each."""

from __future__ import annotations

from aptwatch.detect.analytics.beacon import Beacon
from aptwatch.detect.analytics.dns import Dns
from aptwatch.detect.analytics.exfil import SlowExfil
from aptwatch.detect.analytics.lateral import Lateral
from aptwatch.detect.analytics.lineage import Lineage
from aptwatch.detect.analytics.persistence import Persistence
from aptwatch.detect.analytics.privilege import Privilege
from aptwatch.detect.base import Detector
from aptwatch.detect.imported import ImportedAlerts
from aptwatch.detect.sigma.detector import SigmaDetector
from aptwatch.registry import Registry

DETECTORS: Registry[Detector] = Registry("detector", [
    ImportedAlerts(),
    Beacon(),
    Dns(),
    SlowExfil(),
    Lateral(),
    Lineage(),
    Privilege(),
    Persistence(),
    SigmaDetector(),
])
