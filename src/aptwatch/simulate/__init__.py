"""Enterprise telemetry simulator with planted APT campaigns (see docs/simulate.md)."""
