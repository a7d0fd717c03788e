"""The pySigma processing pipeline, generated from the schema (`model/schema.py`).

Routing of a rule to the store's event tables is decided from its log source:

- `category` that a table lists in `Table.sigma_categories` -> that table, narrowed to the
  category's events by a condition on a schema column (`CATEGORY_FILTERS`, e.g.
  process_creation -> `action = 'start'`); every source that feeds the table (Sysmon 1 and
  Security 4688 for process starts) is covered;
- Windows `service` (security, system, sysmon, powershell, ...) -> a condition on `channel`
  (pySigma's `windows_logsource_mapping` names the channels); the rule runs on every table
  that holds events of those channels, and an EventID the rule names narrows it further;
- Windows categories no table lists (Sysmon 9 raw access, 29 executable detected, ...) ->
  the Sysmon channel and the category's EventIDs, routed like a service;
- other products' services with a natural table (Zeek conn/dns/http/...) -> that table.

Fields: a rule's field name is bound per table when SQL is rendered (`sql.py`): a column
whose Sigma aliases list it, else the column of that name, else the key of the same name in
`data` (so no rule silently misses an unmapped field). Pipeline conditions use `@column` to
name a schema column directly.

A log source that maps to nothing is an error with a reason, listed by `aptwatch rules check`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sigma.pipelines.common import windows_logsource_mapping
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    SetStateTransformation,
    ValueListPlaceholderTransformation,
)

from aptwatch.model.schema import EVENT_TABLES
from aptwatch.sources import SOURCES
from aptwatch.store.duckdb import sql_str

#: state key: tables a rule runs on (fixed by its category)
TABLES = "aptwatch_tables"
#: state key: channels a rule runs on (its tables come from the store's inventory of channels)
CHANNELS = "aptwatch_channels"
#: state key: True when the log source maps to every table (product-only rules)
ANY_TABLE = "aptwatch_any_table"

SYSMON = "Microsoft-Windows-Sysmon/Operational"

#: Sigma category -> condition selecting its events inside its table, on schema columns
#: (the `action` values are documented per table in docs/schema.md). Empty: the whole table.
CATEGORY_FILTERS: dict[str, dict[str, Any]] = {
    "process_creation": {"@action": ["start"]},
    "process_termination": {"@action": ["end"]},
    "process_access": {"@action": ["access"]},
    "create_remote_thread": {"@action": ["remote_thread"]},
    "process_tampering": {"@action": ["tamper"]},
    "network_connection": {},
    "firewall": {},
    "dns_query": {},
    "dns": {},
    "proxy": {},
    "webserver": {},
    "file_event": {"@action": ["create"]},
    "file_delete": {"@action": ["delete"]},
    "file_change": {"@action": ["time_change"]},
    "file_rename": {"@action": ["rename"]},
    "file_access": {"@action": ["access"]},
    "file_block": {"@action": ["block"]},
    "create_stream_hash": {"@action": ["stream"]},
    "registry_event": {},
    "registry_add": {"@action": ["create_key"]},
    "registry_delete": {"@action": ["delete"]},
    "registry_set": {"@action": ["set_value"]},
    "registry_rename": {"@action": ["rename"]},
    "image_load": {"@action": ["image_load"]},
    "driver_load": {"@action": ["driver_load"]},
    "pipe_created": {},
    "wmi_event": {"@action": ["wmi_filter", "wmi_consumer", "wmi_binding"]},
    "ps_script": {"@event_code": [4104]},
    "ps_module": {"@event_code": [4103]},
    "ps_classic_start": {"@event_code": [400]},
    "ps_classic_provider_start": {"@event_code": [600]},
    "ps_classic_script": {"@event_code": [800]},
}

#: Windows categories no table lists: the Sysmon events that carry them (routed by channel).
SYSMON_CATEGORIES: dict[str, list[int]] = {
    "sysmon_status": [4, 16],
    "raw_access_thread": [9],
    "clipboard_capture": [24],
    "file_block_executable": [27],
    "file_block_shredding": [28],
    "file_executable_detected": [29],
    "sysmon_error": [255],
}

#: (product, service) of non-Windows sources -> table
SERVICE_TABLES: dict[tuple[str, str], str] = {
    ("zeek", "conn"): "network",
    ("zeek", "dns"): "dns",
    ("zeek", "http"): "http",
    ("zeek", "ssl"): "tls",
    ("zeek", "x509"): "tls",
    ("zeek", "files"): "file",
    ("zeek", "smb_files"): "file",
    ("zeek", "kerberos"): "auth",
    ("zeek", "ntlm"): "auth",
    ("zeek", "rdp"): "auth",
    ("zeek", "ssh"): "auth",
    ("zeek", "notice"): "ids_alert",
}


def category_tables() -> dict[str, list[str]]:
    """Sigma category -> event tables listing it (from the schema)."""
    out: dict[str, list[str]] = {}
    for t in EVENT_TABLES:
        for c in t.sigma_categories:
            out.setdefault(c, []).append(t.name)
    return out


#: Windows services SigmaHQ uses that pySigma's mapping lacks
EXTRA_WINDOWS_SERVICES: dict[str, str] = {
    "smbclient-connectivity": "Microsoft-Windows-SmbClient/Connectivity",
    "smbserver-connectivity": "Microsoft-Windows-SMBServer/Connectivity",
    "smbserver-security": "Microsoft-Windows-SMBServer/Security",
    # services aptwatch's own rules use
    "winrm": "Microsoft-Windows-WinRM/Operational",
    "rdpcorets": "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational",
    "terminalservices-remoteconnectionmanager":
        "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
    "winsock-ws2help": "Microsoft-Windows-Winsock-WS2HELP/Operational",
}


def _windows_services() -> dict[str, Any]:
    return {**EXTRA_WINDOWS_SERVICES, **windows_logsource_mapping}


#: Sigma products aptwatch has parsers for (each source declares its `product`) and macOS, listed so that
#: `product_formats` shows them even without a parser. A rule of *any* product -- these, or one aptwatch reads
#: no log of (paloalto, aws, ...) -- never runs over events that sources of another product wrote
#: (`product_scope`); events of formats with no product (generic JSON lines, Wazuh, Suricata, flows, Azure
#: VMConnection of Windows and Linux machines, ...) stay open to every product's rules.
KNOWN_PRODUCTS: tuple[str, ...] = ("windows", "linux", "macos", "zeek")


def product_formats() -> dict[str, tuple[str, ...]]:
    """Sigma product -> the formats (the `format` column) whose sources read only that product's logs (every
    product a source declares, and the `KNOWN_PRODUCTS`)."""
    products = sorted(set(KNOWN_PRODUCTS) | {s.product for s in SOURCES if s.product})
    return {p: tuple(sorted(s.name for s in SOURCES if s.product == p)) for p in products}


def product_scope(product: str | None) -> str | None:
    """SQL condition keeping a `product` rule off events of the parsers that declare another product (None: no
    condition, for a rule without a product or when no such parser exists). A product no parser declares
    (paloalto, aws, ...) is kept off every declared product's events: a Palo Alto `file_event` rule is not a
    Windows or Linux rule. Applied once per group of rules sharing a product, as the scope of their evaluation,
    so the batched evaluation stays one scan per group; part of each rule's version (`compiler._hash`), so a
    change of scope re-evaluates the rule over stored events."""
    key = (product or "").strip().lower()
    if not key:
        return None
    others = sorted(f for p, fs in product_formats().items() if p != key for f in fs)
    return f"coalesce(format, '') NOT IN ({', '.join(sql_str(f) for f in others)})" if others else None


def windows_channels(service: str) -> list[str]:
    """Channels of a Windows `service` log source ([] when nobody knows it)."""
    v = _windows_services().get(service)
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


def route_error(category: str | None, product: str | None, service: str | None) -> str | None:
    """Why a log source cannot be routed, or None when it can."""
    if category and category in category_tables():
        return None
    if category and category in SYSMON_CATEGORIES and product in (None, "windows"):
        return None
    if service:
        if product in (None, "windows") and windows_channels(service):
            return None
        if product and (product, service) in SERVICE_TABLES:
            return None
        return f"no event table holds log source product={product} service={service}"
    if category:
        return f"no event table holds log source category={category}" + (f" product={product}" if product else "")
    return None  # product-only (or empty) log source: every table


def build_pipeline(placeholders: Mapping[str, Sequence[str]] | None = None) -> ProcessingPipeline:
    """The processing pipeline for the store's schema (placeholders: `%name%` -> values)."""
    items: list[ProcessingItem] = []
    if placeholders:  # before anything else, so routing conditions never see a placeholder
        items.append(ProcessingItem(identifier="aptwatch_placeholders",
                                    transformation=ValueListPlaceholderTransformation()))
    # (a condition object belongs to one processing item, so each item gets its own)
    for category, tables in sorted(category_tables().items()):
        items.append(ProcessingItem(identifier=f"aptwatch_{category}_tables",
                                    transformation=SetStateTransformation(TABLES, tuple(tables)),
                                    rule_conditions=[LogsourceCondition(category=category)]))
        extra = CATEGORY_FILTERS.get(category)
        if extra:
            items.append(ProcessingItem(identifier=f"aptwatch_{category}_filter",
                                        transformation=AddConditionTransformation(dict(extra)),
                                        rule_conditions=[LogsourceCondition(category=category)]))
    for category, codes in sorted(SYSMON_CATEGORIES.items()):
        items.append(ProcessingItem(identifier=f"aptwatch_{category}_channel",
                                    transformation=SetStateTransformation(CHANNELS, (SYSMON,)),
                                    rule_conditions=[LogsourceCondition(category=category, product="windows")]))
        items.append(ProcessingItem(identifier=f"aptwatch_{category}_filter",
                                    transformation=AddConditionTransformation(
                                        {"@channel": [SYSMON], "@event_code": cast(Any, list(codes))}),
                                    rule_conditions=[LogsourceCondition(category=category, product="windows")]))
    for service in sorted(_windows_services()):
        channels = windows_channels(service)
        items.append(ProcessingItem(identifier=f"aptwatch_windows_{service}_channel",
                                    transformation=SetStateTransformation(CHANNELS, tuple(channels)),
                                    rule_conditions=[LogsourceCondition(product="windows", service=service)]))
        items.append(ProcessingItem(identifier=f"aptwatch_windows_{service}_filter",
                                    transformation=AddConditionTransformation({"@channel": list(channels)}),
                                    rule_conditions=[LogsourceCondition(product="windows", service=service)]))
    for (product, service), table in sorted(SERVICE_TABLES.items()):
        items.append(ProcessingItem(identifier=f"aptwatch_{product}_{service}_table",
                                    transformation=SetStateTransformation(TABLES, (table,)),
                                    rule_conditions=[LogsourceCondition(product=product, service=service)]))
    return ProcessingPipeline(name="aptwatch schema", priority=20, items=items,
                              vars={k: list(v) for k, v in (placeholders or {}).items()})


def routing(state: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fixed tables, channels) the pipeline decided for a rule; both empty means every table."""
    return tuple(state.get(TABLES, ())), tuple(state.get(CHANNELS, ()))
