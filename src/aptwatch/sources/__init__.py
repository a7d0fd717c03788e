"""Log sources: one module per format, registered here with one line each.

`sniff_order()` gives the sources in the order content is offered to them: specific formats
first (low `priority`), catch-alls last; ties keep registration order.
"""

from __future__ import annotations

from aptwatch.registry import Registry
from aptwatch.sources.ait_ads import AitAdsCsv
from aptwatch.sources.argus import Argus
from aptwatch.sources.auditd import Auditd
from aptwatch.sources.authlog import AuthLog
from aptwatch.sources.azure_windows import AzureWindows
from aptwatch.sources.base import Source
from aptwatch.sources.evtx import Evtx
from aptwatch.sources.evtx_json import EvtxJson
from aptwatch.sources.jsonl import JsonLines
from aptwatch.sources.la_syslog import LogAnalyticsSyslog
from aptwatch.sources.la_vmconnection import LogAnalyticsVMConnection
from aptwatch.sources.nfdump_csv import NfdumpCsv
from aptwatch.sources.nxlog import NXLog
from aptwatch.sources.otrf import Otrf
from aptwatch.sources.pcap import Pcap
from aptwatch.sources.suricata_eve import SuricataEve
from aptwatch.sources.sysmon_linux import SysmonLinux
from aptwatch.sources.wazuh import WazuhAlerts
from aptwatch.sources.winevent_xml import WinEventXml
from aptwatch.sources.winlogbeat import Winlogbeat
from aptwatch.sources.zeek_json import ZeekJson
from aptwatch.sources.zeek_tsv import ZeekTsv

SOURCES: Registry[Source] = Registry("source", [
    JsonLines(),
    WazuhAlerts(),
    AitAdsCsv(),
    Evtx(),
    Auditd(),
    SysmonLinux(),
    AuthLog(),
    LogAnalyticsSyslog(),
    LogAnalyticsVMConnection(),
    ZeekTsv(),
    ZeekJson(),
    SuricataEve(),
    NfdumpCsv(),
    Argus(),
    Pcap(),
    EvtxJson(),
    Winlogbeat(),
    NXLog(),
    Otrf(),
    AzureWindows(),
    WinEventXml(),
])


def sniff_order() -> list[Source]:
    order = {name: i for i, name in enumerate(SOURCES.names())}
    return sorted(SOURCES, key=lambda s: (s.priority, order[s.name]))


def detect_format(head: bytes, name: str) -> Source | None:
    """The first source (in sniff order) that claims this content, or None."""
    for source in sniff_order():
        if source.sniff(head, name):
            return source
    return None
