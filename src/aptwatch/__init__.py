"""aptwatch: find APTs in security telemetry."""

__version__ = "0.1.0"
