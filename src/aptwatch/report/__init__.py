"""Report exporters, registered here with one line each."""

from __future__ import annotations

from aptwatch.registry import Registry
from aptwatch.report.base import Exporter
from aptwatch.report.html import HtmlExporter

EXPORTERS: Registry[Exporter] = Registry("exporter", [
    HtmlExporter(),
])
