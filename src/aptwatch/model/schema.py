"""The normalised schema, as data.

Every event table, every state table, their columns, types, documentation, Sigma field
aliases and OCSF / ECS names live here and nowhere else. The store DDL
(`duckdb_ddl`), the Arrow schemas parsers fill (`arrow_schema`), the Sigma field mapping
(`sigma_fields`) and docs/schema.md (`render_markdown`) are all generated from it.

Conventions:
- Columns hold the value *as the log wrote it* (a Sysmon `User` stays `DOMAIN\\name`), so
  Sigma rules written against the native field keep their meaning. Normalised keys for
  correlation (`host`) are documented as such.
- `data` holds the source's fields that no column took, as one flat JSON object keyed by the
  source's own field names; `raw` holds the complete original record. Nothing a log said
  is lost: what is not in a column is in `data`, and everything is in `raw`.
- A Sigma alias is the source field name a parser copies into the column. A parser that
  copies a field into a column must list that field here, so Sigma rules that name it
  find it (a test checks the Windows mappings against this).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from aptwatch.errors import RegistryError

TypeName = Literal["VARCHAR", "BIGINT", "INTEGER", "DOUBLE", "BOOLEAN", "TIMESTAMP", "JSON", "VARCHAR[]",
                   "BIGINT[]"]

#: logical type -> (Arrow type, DuckDB type, Spark SQL type)
TYPES: dict[str, tuple[pa.DataType, str, str]] = {
    "VARCHAR": (pa.string(), "VARCHAR", "STRING"),
    "BIGINT": (pa.int64(), "BIGINT", "BIGINT"),
    "INTEGER": (pa.int32(), "INTEGER", "INT"),
    "DOUBLE": (pa.float64(), "DOUBLE", "DOUBLE"),
    "BOOLEAN": (pa.bool_(), "BOOLEAN", "BOOLEAN"),
    # Always UTC. Parquet stores it with isAdjustedToUTC=true, which Spark reads as TimestampType.
    "TIMESTAMP": (pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ", "TIMESTAMP"),
    # JSON text; stored as a string in Parquet so every engine can read it.
    "JSON": (pa.string(), "VARCHAR", "STRING"),
    "VARCHAR[]": (pa.list_(pa.string()), "VARCHAR[]", "ARRAY<STRING>"),
    "BIGINT[]": (pa.list_(pa.int64()), "BIGINT[]", "ARRAY<BIGINT>"),
}


@dataclass(frozen=True)
class Column:
    """One column: name, logical type, one-line doc, Sigma aliases, OCSF and ECS names."""

    name: str
    type: TypeName
    doc: str
    sigma: tuple[str, ...] = ()
    ocsf: str | None = None
    ecs: str | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return TYPES[self.type][0]

    @property
    def duckdb_type(self) -> str:
        return TYPES[self.type][1]


@dataclass(frozen=True)
class Table:
    """An event table (in the lake) or a state table (in the state database)."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    kind: Literal["event", "state"] = "event"
    #: Sigma logsource categories whose events this table holds (documentation and rule routing).
    sigma_categories: tuple[str, ...] = ()
    #: state tables only: primary key columns
    primary_key: tuple[str, ...] = ()
    _by_name: dict[str, Column] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        seen: dict[str, Column] = {}
        for col in self.columns:
            if col.name in seen:
                raise RegistryError(f"table {self.name}: duplicate column {col.name}")
            if col.type not in TYPES:
                raise RegistryError(f"table {self.name}: column {col.name} has unknown type {col.type}")
            seen[col.name] = col
        object.__setattr__(self, "_by_name", seen)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def has(self, name: str) -> bool:
        return name in self._by_name


def _c(name: str, type_: TypeName, doc: str, sigma: Iterable[str] = (), ocsf: str | None = None,
       ecs: str | None = None) -> Column:
    return Column(name, type_, doc, tuple(sigma), ocsf, ecs)


# --------------------------------------------------------------------------------------
# Columns every event table has. `raw` and `data` go last (see COMMON_TAIL).
# --------------------------------------------------------------------------------------
COMMON_HEAD: tuple[Column, ...] = (
    _c("event_id", "VARCHAR", "Deterministic event id: first 16 hex digits of the source's SHA-256, '-', record. "
       "Same input -> same id.", (), "metadata.uid", "event.id"),
    _c("time", "TIMESTAMP", "When the event happened, UTC.", (), "time", "@timestamp"),
    _c("host", "VARCHAR", "Host key: the reporting host normalised for correlation (lower case short name, "
       "or IP when no name is known); see docs/sources.md.", (), "device.hostname",
       "host.name"),
    _c("source", "VARCHAR", "Path of the file as given to ingest; archive members as 'archive!member'.",
       (), "metadata.log_name", "log.file.path"),
    _c("record", "BIGINT", "Position in the source: EVTX EventRecordID, line number (1-based) for text, "
       "packet or row index otherwise.", ("EventRecordID",), "metadata.sequence", "event.sequence"),
    _c("ingest_id", "VARCHAR", "Id of the ingest run that stored the event.", (), None, None),
    _c("table_name", "VARCHAR", "Name of the table holding the event (constant per table; useful in `events`).",
       (), "class_name", None),
    _c("format", "VARCHAR", "Parser that read the event (e.g. evtx, zeek, suricata_eve, jsonl).",
       (), "metadata.product.name", "event.module"),
    _c("channel", "VARCHAR", "Log stream inside the source: Windows channel, Zeek log path, Suricata "
       "event_type, audit record type, syslog program.", ("Channel",), "metadata.log_provider", "event.dataset"),
    _c("provider", "VARCHAR", "Windows event provider or the sensor / program that wrote the record.",
       ("Provider_Name",), "metadata.product.vendor_name", "event.provider"),
    _c("event_code", "INTEGER", "Windows EventID (or the source's numeric event code).", ("EventID",),
       "metadata.event_code", "event.code"),
)
COMMON_TAIL: tuple[Column, ...] = (
    _c("data", "JSON", "Source fields no column took, as a flat JSON object keyed by the source's own names. "
       "NULL when the parser mapped everything, or when `raw` is itself that flat object.", (), "unmapped",
       None),
    _c("raw", "VARCHAR", "The complete original record (JSON for EVTX, the line for text logs).", (),
       "raw_data", "event.original"),
)
COMMON_NAMES: tuple[str, ...] = tuple(c.name for c in COMMON_HEAD + COMMON_TAIL)

# Reused column groups --------------------------------------------------------------------
_PROC = (
    _c("process_guid", "VARCHAR", "Process GUID of the acting process (Sysmon ProcessGuid).", ("ProcessGuid",),
       "process.uid", "process.entity_id"),
    _c("process_id", "BIGINT", "PID of the acting process.", ("ProcessId",), "process.pid", "process.pid"),
    _c("process_path", "VARCHAR", "Executable path of the acting process.", ("Image",), "process.file.path",
       "process.executable"),
    _c("user", "VARCHAR", "Account of the acting process, as logged (DOMAIN\\name).", ("User",), "actor.user.name",
       "user.name"),
)
_NET_ENDPOINTS = (
    _c("src_ip", "VARCHAR", "Source (originator) IP address.", ("SourceIp", "src_ip", "id.orig_h", "SrcAddr", "sa"),
       "src_endpoint.ip", "source.ip"),
    _c("src_port", "INTEGER", "Source port.", ("SourcePort", "src_port", "id.orig_p", "Sport", "sp"),
       "src_endpoint.port", "source.port"),
    _c("dst_ip", "VARCHAR", "Destination (responder) IP address.", ("DestinationIp", "dst_ip", "id.resp_h",
                                                                    "dest_ip", "DstAddr", "da"),
       "dst_endpoint.ip", "destination.ip"),
    _c("dst_port", "INTEGER", "Destination port.", ("DestinationPort", "dst_port", "id.resp_p", "dest_port", "Dport",
                                                   "dp"),
       "dst_endpoint.port", "destination.port"),
    _c("flow_id", "VARCHAR", "Connection id linking records of one flow (Zeek uid, Suricata flow_id).",
       ("uid", "flow_id"), "connection_info.uid", "network.community_id"),
    _c("community_id", "VARCHAR", "Community ID flow hash (v1), when the sensor logs it; joins Zeek, Suricata and "
       "pcap records of one flow.", ("community_id",), None, "network.community_id"),
)
_HASHES = (
    _c("hashes", "VARCHAR", "Hashes as logged (Sysmon 'SHA1=..,MD5=..').", ("Hashes",), "file.hashes", None),
    _c("md5", "VARCHAR", "MD5, lower-case hex.", ("md5", "fileinfo.md5"), "file.hashes[MD5]", "file.hash.md5"),
    _c("sha1", "VARCHAR", "SHA-1, lower-case hex.", ("sha1", "fileinfo.sha1"), "file.hashes[SHA-1]", "file.hash.sha1"),
    _c("sha256", "VARCHAR", "SHA-256, lower-case hex.", ("sha256", "fileinfo.sha256"), "file.hashes[SHA-256]",
       "file.hash.sha256"),
    _c("imphash", "VARCHAR", "PE import hash.", ("Imphash",), None, "file.pe.imphash"),
)
_PE_META = (
    _c("file_version", "VARCHAR", "PE file version.", ("FileVersion",), "file.version", "file.pe.file_version"),
    _c("description", "VARCHAR", "PE description.", ("Description",), "file.desc", "file.pe.description"),
    _c("product", "VARCHAR", "PE product name.", ("Product",), "file.product.name", "file.pe.product"),
    _c("company", "VARCHAR", "PE company name.", ("Company",), "file.company_name", "file.pe.company"),
    _c("original_file_name", "VARCHAR", "PE original file name.", ("OriginalFileName",), "file.name",
       "file.pe.original_file_name"),
)
_SUBJECT = (
    _c("subject_user", "VARCHAR", "Account that performed the action (SubjectUserName).", ("SubjectUserName",),
       "actor.user.name", "user.name"),
    _c("subject_domain", "VARCHAR", "Domain of the acting account.", ("SubjectDomainName",), "actor.user.domain",
       "user.domain"),
    _c("subject_sid", "VARCHAR", "SID of the acting account.", ("SubjectUserSid",), "actor.user.uid", "user.id"),
    _c("subject_logon_id", "VARCHAR", "Logon id of the acting session.", ("SubjectLogonId",),
       "actor.session.uid", None),
)


def _event(name: str, doc: str, columns: Iterable[Column], categories: Iterable[str] = ()) -> Table:
    return Table(name, doc, COMMON_HEAD + tuple(columns) + COMMON_TAIL, "event", tuple(categories))


EVENT_TABLES: tuple[Table, ...] = (
    _event("process", "Process starts and ends (Sysmon 1/5, Security 4688/4689, auditd execve, Sysmon for Linux).", (
        _c("action", "VARCHAR", "start | end.", (), "activity_name", "event.action"),
        *_PROC,
        _c("process_name", "VARCHAR", "File name of the executable (derived from process_path).", (),
           "process.name", "process.name"),
        _c("command_line", "VARCHAR", "Full command line.", ("CommandLine",), "process.cmd_line",
           "process.command_line"),
        _c("current_directory", "VARCHAR", "Working directory.", ("CurrentDirectory",), None,
           "process.working_directory"),
        _c("integrity_level", "VARCHAR", "Mandatory integrity level.", ("IntegrityLevel",),
           "process.integrity", None),
        _c("logon_id", "VARCHAR", "Logon session id (hex).", ("LogonId",), "process.session.uid", None),
        _c("logon_guid", "VARCHAR", "Logon GUID.", ("LogonGuid",), None, None),
        _c("terminal_session_id", "INTEGER", "Terminal session id.", ("TerminalSessionId",), None, None),
        *_HASHES,
        *_PE_META,
        _c("parent_process_guid", "VARCHAR", "Parent process GUID.", ("ParentProcessGuid",),
           "process.parent_process.uid", "process.parent.entity_id"),
        _c("parent_process_id", "BIGINT", "Parent PID.", ("ParentProcessId",), "process.parent_process.pid",
           "process.parent.pid"),
        _c("parent_path", "VARCHAR", "Parent executable path.", ("ParentImage", "ParentProcessName"),
           "process.parent_process.file.path", "process.parent.executable"),
        _c("parent_command_line", "VARCHAR", "Parent command line.", ("ParentCommandLine",),
           "process.parent_process.cmd_line", "process.parent.command_line"),
        _c("parent_user", "VARCHAR", "Account of the parent process.", ("ParentUser",),
           "process.parent_process.user.name", None),
        _c("exit_code", "INTEGER", "Exit status (process end, auditd).", ("ExitStatus",), "exit_code",
           "process.exit_code"),
    ), ("process_creation", "process_termination")),

    _event("process_access", "One process acting on another: handle opens (Sysmon 10), remote threads (8), "
           "tampering (25).", (
        _c("action", "VARCHAR", "access | remote_thread | tamper.", (), "activity_name", "event.action"),
        _c("source_process_guid", "VARCHAR", "Acting process GUID.", ("SourceProcessGuid", "SourceProcessGUID"),
           "actor.process.uid", None),
        _c("source_process_id", "BIGINT", "Acting PID.", ("SourceProcessId",), "actor.process.pid", None),
        _c("source_path", "VARCHAR", "Acting executable.", ("SourceImage",), "actor.process.file.path", None),
        _c("source_user", "VARCHAR", "Acting account.", ("SourceUser",), "actor.user.name", None),
        _c("target_process_guid", "VARCHAR", "Target process GUID.", ("TargetProcessGuid", "TargetProcessGUID"),
           "process.uid", None),
        _c("target_process_id", "BIGINT", "Target PID.", ("TargetProcessId",), "process.pid", None),
        _c("target_path", "VARCHAR", "Target executable.", ("TargetImage",), "process.file.path", None),
        _c("target_user", "VARCHAR", "Target account.", ("TargetUser",), "process.user.name", None),
        _c("granted_access", "VARCHAR", "Access mask granted (hex, as logged).", ("GrantedAccess",),
           "access_mask", None),
        _c("call_trace", "VARCHAR", "Call stack of the access.", ("CallTrace",), None, None),
        _c("start_address", "VARCHAR", "Remote thread start address.", ("StartAddress",), None, None),
        _c("start_module", "VARCHAR", "Remote thread start module.", ("StartModule",), None, None),
        _c("start_function", "VARCHAR", "Remote thread start function.", ("StartFunction",), None, None),
        _c("tamper_type", "VARCHAR", "Process tampering type (Sysmon 25 Type).", ("Type",), None, None),
    ), ("process_access", "create_remote_thread", "process_tampering")),

    _event("network", "Network flows and connections (Sysmon 3, Security 5156, Zeek conn, Suricata flow, "
           "nfdump/Argus, pcap summaries).", (
        *_NET_ENDPOINTS,
        _c("src_hostname", "VARCHAR", "Source host name when logged.", ("SourceHostname",),
           "src_endpoint.hostname", "source.domain"),
        _c("dst_hostname", "VARCHAR", "Destination host name when logged.", ("DestinationHostname",),
           "dst_endpoint.hostname", "destination.domain"),
        _c("protocol", "VARCHAR", "Transport protocol, lower case (tcp, udp, icmp).",
           ("Protocol", "proto", "Proto", "pr"), "connection_info.protocol_name", "network.transport"),
        _c("app_protocol", "VARCHAR", "Application protocol when known (Zeek service).", ("service", "app_proto"), None,
           "network.protocol"),
        _c("initiated", "BOOLEAN", "True when the host initiated the connection (Sysmon Initiated).",
           ("Initiated",), "connection_info.direction", None),
        _c("duration", "DOUBLE", "Duration in seconds.", ("duration", "Dur", "td"), "duration", "event.duration"),
        _c("bytes_out", "BIGINT", "Payload bytes from originator to responder (flow records and Suricata count IP "
           "bytes).", ("orig_bytes", "flow.bytes_toserver", "SrcBytes", "ibyt"),
           "traffic.bytes_out", "source.bytes"),
        _c("bytes_in", "BIGINT", "Payload bytes from responder to originator.", ("resp_bytes", "flow.bytes_toclient",
                                                                                "obyt"),
           "traffic.bytes_in", "destination.bytes"),
        _c("packets_out", "BIGINT", "Packets from originator.", ("orig_pkts", "flow.pkts_toserver", "SrcPkts", "ipkt"),
           "traffic.packets_out",
           "source.packets"),
        _c("packets_in", "BIGINT", "Packets from responder.", ("resp_pkts", "flow.pkts_toclient", "DstPkts", "opkt"),
           "traffic.packets_in",
           "destination.packets"),
        _c("conn_state", "VARCHAR", "Connection state (Zeek conn_state, flow state).", ("conn_state", "flow.state",
                                                                                        "State"),
           "connection_info.state", None),
        *_PROC,
    ), ("network_connection", "firewall")),

    _event("dns", "DNS queries and answers (Sysmon 22, Zeek dns, Suricata dns, pcap).", (
        *_NET_ENDPOINTS,
        _c("query", "VARCHAR", "Queried name.", ("QueryName", "query", "dns.rrname"), "query.hostname",
           "dns.question.name"),
        _c("query_type", "VARCHAR", "Query type name (A, AAAA, TXT, ...).", ("qtype_name", "record_type",
                                                                             "dns.rrtype"),
           "query.type", "dns.question.type"),
        _c("rcode", "VARCHAR", "Response code name (NOERROR, NXDOMAIN, ...).", ("rcode_name", "dns.rcode"), "rcode",
           "dns.response_code"),
        _c("answers", "VARCHAR", "Answers as logged, ';'-separated.", ("QueryResults", "answers"), "answers",
           "dns.answers.data"),
        _c("status", "VARCHAR", "Sysmon query status.", ("QueryStatus",), "status_code", None),
        *_PROC,
    ), ("dns_query", "dns")),

    _event("dhcp", "DHCP leases and requests (Zeek dhcp.log, DHCP server logs): who got which address, for how long.", (
        _c("assigned_ip", "VARCHAR", "Address assigned to the client.", ("assigned_addr", "assigned_ip"),
           None, None),
        _c("client_ip", "VARCHAR", "Address the client used for the exchange.", ("client_addr",),
           "src_endpoint.ip", "client.ip"),
        _c("server_ip", "VARCHAR", "DHCP server address.", ("server_addr",), "dst_endpoint.ip", "server.ip"),
        _c("requested_ip", "VARCHAR", "Address the client asked for.", ("requested_addr",), None, None),
        _c("mac", "VARCHAR", "Client hardware address.", ("mac",), "src_endpoint.mac", "client.mac"),
        _c("host_name", "VARCHAR", "Host name the client sent (option 12).", ("host_name",),
           "src_endpoint.hostname", "client.domain"),
        _c("client_fqdn", "VARCHAR", "Client FQDN (option 81).", ("client_fqdn",), None, None),
        _c("domain", "VARCHAR", "Domain name given to the client.", ("domain",), None, None),
        _c("lease_time", "DOUBLE", "Lease length in seconds.", ("lease_time",), "lease_dur", None),
        _c("msg_types", "VARCHAR", "DHCP message types of the exchange, ','-separated (DISCOVER, OFFER, REQUEST, "
           "ACK, ...).", ("msg_types",), "activity_name", None),
        _c("flow_id", "VARCHAR", "Connection ids (Zeek uids).", ("uids",), "connection_info.uid", None),
    ), ()),

    _event("http", "HTTP requests (Zeek http, Suricata http, pcap, proxy and web server logs).", (
        *_NET_ENDPOINTS,
        _c("method", "VARCHAR", "Request method.", ("cs-method", "method", "http.http_method"),
           "http_request.http_method",
           "http.request.method"),
        _c("http_host", "VARCHAR", "Host header.", ("cs-host", "host", "http.hostname"), "http_request.url.hostname",
           "url.domain"),
        _c("uri", "VARCHAR", "Request URI (path and query).", ("c-uri", "uri", "http.url"), "http_request.url.path",
           "url.original"),
        _c("referrer", "VARCHAR", "Referer header.", ("cs-referrer", "referrer", "http.http_refer"),
           "http_request.referrer",
           "http.request.referrer"),
        _c("user_agent", "VARCHAR", "User-Agent header.", ("c-useragent", "user_agent", "http.http_user_agent"),
           "http_request.user_agent", "user_agent.original"),
        _c("status_code", "INTEGER", "Response status.", ("sc-status", "status_code", "http.status"),
           "http_response.code",
           "http.response.status_code"),
        _c("request_bytes", "BIGINT", "Request body bytes.", ("cs-bytes", "request_body_len"),
           "http_request.length", "http.request.body.bytes"),
        _c("response_bytes", "BIGINT", "Response body bytes.", ("sc-bytes", "response_body_len", "http.length"),
           "http_response.length", "http.response.body.bytes"),
        _c("content_type", "VARCHAR", "Response MIME type(s), ','-separated.", ("resp_mime_types",
                                                                                "http.http_content_type"),
           "http_response.content_type", "http.response.mime_type"),
        _c("user", "VARCHAR", "Authenticated user when logged.", ("cs-username", "username"), "actor.user.name",
           "user.name"),
    ), ("proxy", "webserver")),

    _event("tls", "TLS handshakes and certificates (Zeek ssl/x509, Suricata tls, pcap).", (
        *_NET_ENDPOINTS,
        _c("version", "VARCHAR", "TLS version.", ("version", "tls.version"), "tls.version", "tls.version"),
        _c("cipher", "VARCHAR", "Negotiated cipher.", ("cipher",), "tls.cipher", "tls.cipher"),
        _c("server_name", "VARCHAR", "SNI server name.", ("server_name", "sni", "tls.sni"), "tls.sni",
           "tls.client.server_name"),
        _c("subject", "VARCHAR", "Server certificate subject.", ("subject", "certificate.subject", "tls.subject"),
           "tls.certificate.subject",
           "tls.server.subject"),
        _c("issuer", "VARCHAR", "Server certificate issuer.", ("issuer", "certificate.issuer", "tls.issuerdn"),
           "tls.certificate.issuer",
           "tls.server.issuer"),
        _c("ja3", "VARCHAR", "JA3 client fingerprint.", ("ja3", "tls.ja3.hash"), "tls.ja3_hash", "tls.client.ja3"),
        _c("ja3s", "VARCHAR", "JA3S server fingerprint.", ("ja3s", "tls.ja3s.hash"), "tls.ja3s_hash",
           "tls.server.ja3s"),
        _c("established", "BOOLEAN", "Handshake completed.", ("established",), None, "tls.established"),
        _c("validation_status", "VARCHAR", "Certificate validation result.", ("validation_status",), None, None),
        _c("cert_sha1", "VARCHAR", "Server certificate SHA-1 fingerprint, lower-case hex without separators "
           "(NULL when the sensor logs another hash).", (), "tls.certificate.fingerprints",
           "tls.server.hash.sha1"),
    ), ()),

    _event("file", "File activity: create, delete, modify, streams, share access, transferred files (Sysmon "
           "2/11/15/23/26-29, Security 4663/5140/5145, Zeek files/smb_files, Suricata fileinfo).", (
        _c("action", "VARCHAR", "create | delete | modify | time_change | stream | rename | access | "
           "share_access | share_connect | transfer | block.", (), "activity_name", "event.action"),
        _c("path", "VARCHAR", "File path (Zeek smb_files: the name inside the share).",
           ("TargetFilename", "ObjectName", "filename", "name", "fileinfo.filename"), "file.path",
           "file.path"),
        _c("file_name", "VARCHAR", "File name (derived from path).", (), "file.name", "file.name"),
        *_PROC,
        _c("creation_time", "VARCHAR", "File creation time as logged.", ("CreationUtcTime",),
           "file.created_time", "file.created"),
        _c("previous_creation_time", "VARCHAR", "Previous creation time (time stomping).",
           ("PreviousCreationUtcTime",), None, None),
        *_HASHES,
        _c("contents", "VARCHAR", "Stream contents (Sysmon 15 Contents, e.g. Zone.Identifier).", ("Contents",),
           None, None),
        _c("share_name", "VARCHAR", "Network share name (Zeek smb_*: the UNC path of the share).",
           ("ShareName", "path", "smb.share"), "share", None),
        _c("share_path", "VARCHAR", "Local path of the share.", ("ShareLocalPath",), None, None),
        _c("relative_target", "VARCHAR", "Path relative to the share.", ("RelativeTargetName",), None, None),
        _c("access_mask", "VARCHAR", "Access mask or access list.", ("AccessMask", "AccessList"),
           "access_mask", None),
        _c("src_ip", "VARCHAR", "Remote client address (share access); the sender of a transferred file.",
           ("IpAddress", "tx_hosts", "id.orig_h"),
           "src_endpoint.ip", "source.ip"),
        _c("dst_ip", "VARCHAR", "Server address (share access); the receiver of a transferred file.",
           ("rx_hosts", "id.resp_h"), "dst_endpoint.ip",
           "destination.ip"),
        _c("flow_id", "VARCHAR", "Connection id of the transfer (Zeek uid, Suricata flow_id).", ("uid", "flow_id"),
           "connection_info.uid",
           None),
        _c("mime_type", "VARCHAR", "MIME type.", ("mime_type",), "file.mime_type", "file.mime_type"),
        _c("size", "BIGINT", "Size in bytes.", ("seen_bytes", "total_bytes", "size", "fileinfo.size"), "file.size",
           "file.size"),
    ), ("file_event", "file_delete", "file_change", "file_rename", "file_access", "file_block",
        "create_stream_hash")),

    _event("registry", "Registry changes (Sysmon 12/13/14, Security 4657).", (
        _c("action", "VARCHAR", "create_key | delete | set_value | rename.", (), "activity_name", "event.action"),
        _c("target_object", "VARCHAR", "Full key or value path.", ("TargetObject",), "reg_value.path",
           "registry.path"),
        _c("details", "VARCHAR", "Value data written.", ("Details", "NewValue"), "reg_value.data",
           "registry.data.strings"),
        _c("event_type", "VARCHAR", "Sysmon EventType (SetValue, CreateKey, DeleteKey, RenameKey).",
           ("EventType",), None, None),
        _c("new_name", "VARCHAR", "New name on rename.", ("NewName",), None, None),
        *_PROC,
    ), ("registry_event", "registry_add", "registry_delete", "registry_set", "registry_rename")),

    _event("image_load", "Images and drivers loaded (Sysmon 7 and 6).", (
        _c("action", "VARCHAR", "image_load | driver_load.", (), "activity_name", "event.action"),
        _c("image_loaded", "VARCHAR", "Path of the loaded image or driver.", ("ImageLoaded",), "module.file.path",
           "dll.path"),
        *_PROC,
        *_HASHES,
        *_PE_META,
        _c("signed", "VARCHAR", "Signed flag as logged.", ("Signed",), "module.file.signature", None),
        _c("signature", "VARCHAR", "Signer.", ("Signature",), None, "dll.code_signature.subject_name"),
        _c("signature_status", "VARCHAR", "Signature status.", ("SignatureStatus",), None,
           "dll.code_signature.status"),
    ), ("image_load", "driver_load")),

    _event("pipe", "Named pipes created and connected (Sysmon 17/18).", (
        _c("action", "VARCHAR", "created | connected.", (), "activity_name", "event.action"),
        _c("pipe_name", "VARCHAR", "Pipe name.", ("PipeName",), "file.name", "file.name"),
        *_PROC,
    ), ("pipe_created",)),

    _event("auth", "Authentication and sessions: logon/logoff, explicit credentials, special privileges, "
           "Kerberos, NTLM, RDP, SSH, sudo/su (Security 4624-4779, Zeek kerberos/ntlm/rdp/ssh, auth.log).", (
        _c("action", "VARCHAR", "logon | logon_failed | logoff | explicit_credentials | special_privileges | "
           "privileged_service | tgt_request | service_ticket | ticket_renewed | preauth_failed | "
           "credential_validation | session_reconnect | session_disconnect | ssh | sudo | su | rdp.", (),
           "activity_name", "event.action"),
        _c("outcome", "VARCHAR", "success | failure.", (), "status", "event.outcome"),
        _c("protocol", "VARCHAR", "kerberos | ntlm | negotiate | ssh | rdp | local | ... .", (),
           "auth_protocol", None),
        _c("target_user", "VARCHAR", "Account being authenticated.", ("TargetUserName", "username", "cookie"),
           "user.name", "user.target.name"),
        _c("target_domain", "VARCHAR", "Its domain.", ("TargetDomainName", "domainname"), "user.domain",
           "user.target.domain"),
        _c("target_sid", "VARCHAR", "Its SID.", ("TargetUserSid",), "user.uid", "user.target.id"),
        *_SUBJECT,
        _c("logon_id", "VARCHAR", "New session's logon id.", ("TargetLogonId",), "session.uid", None),
        _c("logon_type", "INTEGER", "Windows logon type.", ("LogonType",), "logon_type_id", None),
        _c("logon_process", "VARCHAR", "Logon process.", ("LogonProcessName",), "logon_process.name", None),
        _c("auth_package", "VARCHAR", "Authentication package.", ("AuthenticationPackageName", "security_protocol"),
           "auth_protocol", None),
        _c("workstation", "VARCHAR", "Client workstation name.", ("WorkstationName", "Workstation", "hostname",
                                                                  "client_name"),
           "src_endpoint.hostname", "source.domain"),
        _c("src_ip", "VARCHAR", "Client address.", ("IpAddress", "id.orig_h", "src_ip"), "src_endpoint.ip",
           "source.ip"),
        _c("src_port", "INTEGER", "Client port.", ("IpPort", "id.orig_p", "src_port"), "src_endpoint.port",
           "source.port"),
        _c("dst_ip", "VARCHAR", "Server address (network sensors).", ("id.resp_h", "dest_ip"), "dst_endpoint.ip",
           "destination.ip"),
        _c("dst_port", "INTEGER", "Server port (network sensors).", ("id.resp_p", "dest_port"), "dst_endpoint.port",
           "destination.port"),
        _c("flow_id", "VARCHAR", "Connection id (Zeek uid, Suricata flow_id) of a network-observed authentication.",
           ("uid", "flow_id"), "connection_info.uid", None),
        _c("target_server", "VARCHAR", "Server named in explicit-credential logons or tickets.",
           ("TargetServerName", "server_nb_computer_name", "server_dns_computer_name"), "dst_endpoint.hostname", None),
        _c("service", "VARCHAR", "Kerberos service / SPN.", ("ServiceName", "service"), "service.name", None),
        _c("ticket_encryption", "VARCHAR", "Kerberos ticket encryption type as logged (Windows: hex; Zeek: cipher "
           "name).", ("TicketEncryptionType", "cipher"), None, None),
        _c("ticket_options", "VARCHAR", "Kerberos ticket options.", ("TicketOptions",), None, None),
        _c("status", "VARCHAR", "Status / failure code as logged.", ("Status", "FailureReason", "error_msg", "result"),
           "status_code", None),
        _c("sub_status", "VARCHAR", "Sub status.", ("SubStatus",), "status_detail", None),
        _c("privileges", "VARCHAR", "Privileges assigned or used.", ("PrivilegeList",), "privileges", None),
        _c("elevated_token", "VARCHAR", "Elevated token flag.", ("ElevatedToken",), None, None),
        _c("process_path", "VARCHAR", "Process that requested the logon.", ("ProcessName",),
           "actor.process.file.path", "process.executable"),
        _c("process_id", "BIGINT", "PID of that process.", (), "actor.process.pid", "process.pid"),
        _c("method", "VARCHAR", "Auth method (ssh: password, publickey; sudo command).", (), None, None),
    ), ()),

    _event("account", "Account and group changes (Security 4720-4767, 4738, 4742, 5136; Linux useradd, "
           "groupmod).", (
        _c("action", "VARCHAR", "user_created | user_enabled | user_disabled | user_deleted | password_reset | "
           "password_changed | user_changed | computer_changed | member_added | member_removed | "
           "directory_change.", (), "activity_name", "event.action"),
        _c("target_user", "VARCHAR", "Account or group changed (Windows TargetUserName).", ("TargetUserName",),
           "user.name", "user.target.name"),
        _c("target_domain", "VARCHAR", "Its domain.", ("TargetDomainName",), "user.domain",
           "user.target.domain"),
        _c("target_sid", "VARCHAR", "Its SID.", ("TargetSid",), "user.uid", "user.target.id"),
        _c("group_name", "VARCHAR", "Group changed (membership events).", (), "group.name", "group.name"),
        _c("member_name", "VARCHAR", "Member added or removed.", ("MemberName",), "user.name", None),
        _c("member_sid", "VARCHAR", "Its SID.", ("MemberSid",), "user.uid", None),
        *_SUBJECT,
        _c("sam_account_name", "VARCHAR", "SAM account name.", ("SamAccountName",), None, None),
        _c("attribute", "VARCHAR", "Directory attribute changed (5136).", ("AttributeLDAPDisplayName",), None,
           None),
        _c("attribute_value", "VARCHAR", "New attribute value (5136).", ("AttributeValue",), None, None),
        _c("object_dn", "VARCHAR", "Directory object DN (5136).", ("ObjectDN",), None, None),
    ), ()),

    _event("persistence", "Services, scheduled tasks and WMI subscriptions (Security 4697/4698-4702, System "
           "7045/7040, TaskScheduler, Sysmon 19-21, WMI-Activity 5857-5861).", (
        _c("action", "VARCHAR", "service_installed | service_changed | task_created | task_deleted | "
           "task_enabled | task_disabled | task_updated | task_registered | task_launched | wmi_filter | "
           "wmi_consumer | wmi_binding | wmi_activity.", (), "activity_name", "event.action"),
        _c("name", "VARCHAR", "Service, task or WMI object name.", ("ServiceName", "TaskName", "Name"),
           "job.name", None),
        _c("image_path", "VARCHAR", "What runs: service ImagePath, task command, WMI consumer destination.",
           ("ImagePath", "ServiceFileName", "Destination"), "job.file.path", None),
        _c("start_type", "VARCHAR", "Service start type.", ("StartType",), None, None),
        _c("service_type", "VARCHAR", "Service type.", ("ServiceType",), None, None),
        _c("account", "VARCHAR", "Account the service/task runs as.", ("AccountName", "ServiceAccount"),
           None, None),
        _c("content", "VARCHAR", "Task XML, WMI query or consumer text.", ("TaskContent", "Query"), None, None),
        _c("operation", "VARCHAR", "WMI operation.", ("Operation",), None, None),
        _c("consumer", "VARCHAR", "WMI consumer (binding).", ("Consumer",), None, None),
        _c("filter", "VARCHAR", "WMI filter (binding).", ("Filter",), None, None),
        *_SUBJECT,
        *_PROC,
    ), ("wmi_event",)),

    _event("script", "PowerShell script blocks, module logging and engine events (4103, 4104, 400, 403, 600, "
           "800).", (
        _c("script_block_text", "VARCHAR", "Script block text.", ("ScriptBlockText",), None, None),
        _c("script_block_id", "VARCHAR", "Script block id (joins multi-part blocks).", ("ScriptBlockId",),
           None, None),
        _c("message_number", "INTEGER", "Part number of a multi-part block.", ("MessageNumber",), None, None),
        _c("message_total", "INTEGER", "Number of parts.", ("MessageTotal",), None, None),
        _c("path", "VARCHAR", "Script path.", ("Path",), "file.path", None),
        _c("payload", "VARCHAR", "Module logging payload (4103).", ("Payload",), None, None),
        _c("context_info", "VARCHAR", "Module logging context (4103).", ("ContextInfo",), None, None),
        _c("host_application", "VARCHAR", "Host application / command line of the engine.", ("HostApplication",),
           "process.cmd_line", None),
        _c("engine_version", "VARCHAR", "Engine version.", ("EngineVersion",), None, None),
        _c("user", "VARCHAR", "User when logged.", ("UserId",), "actor.user.name", "user.name"),
    ), ("ps_script", "ps_module", "ps_classic_start", "ps_classic_provider_start", "ps_classic_script")),

    _event("ids_alert", "Alerts from other security tools: Suricata, Zeek notice, Wazuh, AMiner, Defender.", (
        _c("sensor", "VARCHAR", "Product that raised the alert.", (), "metadata.product.name", "observer.product"),
        _c("signature", "VARCHAR", "Alert signature / rule description.",
           ("signature", "alert.signature", "note", "rule.description", "data.alert.signature", "name"),
           "finding_info.title", "rule.name"),
        _c("signature_id", "VARCHAR", "Rule or signature id.",
           ("signature_id", "alert.signature_id", "rule.id", "data.alert.signature_id", "short"),
           "finding_info.uid", "rule.id"),
        _c("category", "VARCHAR", "Alert category / classification.",
           ("category", "alert.category", "data.alert.category"), "finding_info.types", "rule.category"),
        _c("severity", "VARCHAR", "Severity as the sensor wrote it.",
           ("severity", "alert.severity", "rule.level", "data.alert.severity"), "severity", "event.severity"),
        _c("alert_action", "VARCHAR", "allowed | blocked | ... as the sensor wrote it (Zeek notice: its actions).",
           ("alert.action", "actions", "data.alert.action", "data.action"), "action", "event.action"),
        *_NET_ENDPOINTS,
        _c("protocol", "VARCHAR", "Transport protocol.", ("proto", "data.proto"), "connection_info.protocol_name",
           "network.transport"),
        _c("rule_groups", "VARCHAR", "Rule groups / tags, ','-separated.", ("rule.groups",), None, "rule.ruleset"),
        _c("mitre_tactics", "VARCHAR", "ATT&CK tactic ids the alert itself names, ','-separated.",
           ("rule.mitre.tactic", "data.alert.metadata.mitre_tactic_id"), "attacks.tactic.uid", "threat.tactic.id"),
        _c("mitre_techniques", "VARCHAR", "ATT&CK technique ids the alert itself names, ','-separated.",
           ("rule.mitre.id", "data.alert.metadata.mitre_technique_id"), "attacks.technique.uid",
           "threat.technique.id"),
        _c("message", "VARCHAR", "Alert text / full log line.", ("message", "msg", "full_log"), "message", "message"),
        _c("user", "VARCHAR", "User named by the alert.",
           ("data.srcuser", "data.dstuser", "data.win.eventdata.targetUserName", "data.user"), "actor.user.name",
           "user.name"),
        _c("process_path", "VARCHAR", "Process named by the alert.", ("data.win.eventdata.image", "data.audit.exe"),
           "process.file.path", "process.executable"),
        _c("file_path", "VARCHAR", "File named by the alert.", ("syscheck.path",), "file.path", "file.path"),
        _c("host_ip", "VARCHAR", "Address of the host that raised the alert or that it is about (Wazuh agent.ip, "
           "AIT-ADS `ip`); feeds address context.", ("agent.ip", "ip"), "device.ip", "host.ip"),
    ), ()),

    _event("generic", "Everything no other table maps; all fields in `data`.", (), ()),
)


# --------------------------------------------------------------------------------------
# Additions, kept as blocks so each stays additive and merges trivially: extra Sigma aliases
# (the field names a parser copies into an existing column), extra columns (inserted before
# `data`/`raw`), extra words for a column's doc, and new tables.
# --------------------------------------------------------------------------------------
def _extend(tables: tuple[Table, ...], *, aliases: dict[str, dict[str, tuple[str, ...]]],
            columns: dict[str, tuple[Column, ...]], docs: dict[str, dict[str, str]],
            new: tuple[Table, ...] = ()) -> tuple[Table, ...]:
    by_name = {t.name: t for t in tables}
    for what in (aliases, columns, docs):
        for tname in what:
            if tname not in by_name:
                raise RegistryError(f"schema addition names unknown table {tname}")
    out: list[Table] = []
    for t in tables:
        extra = aliases.get(t.name, {})
        more_doc = docs.get(t.name, {})
        for cname in (*extra, *more_doc):
            if not t.has(cname):
                raise RegistryError(f"schema addition names unknown column {t.name}.{cname}")
        cols = [Column(c.name, c.type, c.doc + (" " + more_doc[c.name] if c.name in more_doc else ""),
                       c.sigma + tuple(a for a in extra.get(c.name, ()) if a not in c.sigma), c.ocsf, c.ecs)
                for c in t.columns]
        added = columns.get(t.name, ())
        if added:
            cols = cols[: -len(COMMON_TAIL)] + list(added) + cols[-len(COMMON_TAIL):]
        out.append(Table(t.name, t.doc, tuple(cols), t.kind, t.sigma_categories, t.primary_key))
    return (*out, *new)


# Windows sources (issue 3; mapping in sources/windows/mapping.py, which a test checks against these).
_WINDOWS_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "process": {"process_path": ("NewProcessName", "ProcessName"), "process_id": ("NewProcessId",),
                "user": ("SubjectUserName",), "logon_id": ("SubjectLogonId",), "exit_code": ("Status",)},
    "process_access": {"target_process_guid": ("ProcessGuid",), "target_process_id": ("ProcessId",),
                       "target_path": ("Image",), "target_user": ("User",)},
    "network": {"src_ip": ("SourceAddress",), "dst_ip": ("DestAddress",), "dst_port": ("DestPort",),
                "process_id": ("ProcessID",), "process_path": ("Application",)},
    "file": {"path": ("Device",), "hashes": ("Hash",), "process_path": ("ProcessName",)},
    "registry": {"target_object": ("ObjectName",), "process_path": ("ProcessName",)},
    "auth": {"target_user": ("AccountName", "User", "Param1"), "target_domain": ("AccountDomain", "Param2"),
             "target_sid": ("TargetSid",), "src_ip": ("ClientAddress", "Address", "Param3"),
             "workstation": ("ClientName",), "logon_id": ("LogonID",), "auth_package": ("PackageName",),
             "process_id": ("ProcessId",), "service": ("Service",), "target_server": ("Value",)},
    "account": {"object_dn": ("ObjectName",)},
    "persistence": {"name": ("param1", "ProviderName", "providerName", "jobTitle", "name"),
                    "image_path": ("ActionName", "ProviderPath"), "start_type": ("ServiceStartType", "param3"),
                    "account": ("UserContext", "UserName", "jobOwner"), "content": ("TaskContentNew",),
                    "consumer": ("CONSUMER",), "filter": ("ESS",),
                    "process_id": ("ProcessID", "processid", "processId", "ClientProcessId"),
                    "process_path": ("processPath",)},
    "ids_alert": {"signature": ("Threat Name",), "signature_id": ("Threat ID",), "severity": ("Severity Name",),
                  "category": ("Category Name",), "alert_action": ("Action Name",),
                  "user": ("Detection User",), "process_path": ("Process Name", "ProcessName"),
                  "file_path": ("Path",)},
}
_WINDOWS_COLUMNS: dict[str, tuple[Column, ...]] = {
    "file": _SUBJECT,
    "registry": _SUBJECT,
    "persistence": (
        _c("state", "VARCHAR", "Service state entered (System 7036 param2: running, stopped).", ("param2",)),
        _c("url", "VARCHAR", "URL transferred (BITS).", ("url", "RemoteName"), "url.url_string", "url.original"),
        _c("local_path", "VARCHAR", "Local file of a transfer (BITS LocalName).", ("LocalName",), "file.path",
           "file.path"),
    ),
    "script": (
        _c("action", "VARCHAR", "script_block | module | engine_start | engine_stop | provider_start | pipeline.",
           (), "activity_name", "event.action"),
        _c("data_text", "VARCHAR", "Classic PowerShell (Windows PowerShell log 400/403/600/800): the event's <Data> "
           "items joined by newlines, the text Sigma ps_classic_* rules match as `Data` (key=value lines with "
           "HostApplication, EngineVersion, ...).", ("Data",)),
    ),
}
_WINDOWS_DOCS: dict[str, dict[str, str]] = {
    "file": {"action": "Windows also: raw_read (Sysmon 9) | handle_request (4656) | clipboard (Sysmon 24) | "
                       "block_executable | block_shredding | executable_detected (Sysmon 27-29)."},
    "auth": {"action": "Windows also: privileged_object (4674) | rdp_logon | rdp_shell_start | rdp_logoff | "
                       "rdp_disconnect | rdp_reconnect (TerminalServices-LocalSessionManager 21-25) | "
                       "rdp_authenticated (RemoteConnectionManager 1149) | rdp_client_connect | "
                       "rdp_client_multitransport (RDPClient 1024 / 1102)."},
    "account": {"action": "Windows also: object_handle (4661) | directory_access (4662)."},
    "persistence": {"action": "Windows also: service_state_changed (7036) | task_completed (TaskScheduler 201) | "
                              "wmi_provider_started | wmi_error | wmi_subscription | wmi_temporary_subscription "
                              "(WMI-Activity 5857-5860) | bits_job_created | bits_job_completed | "
                              "bits_job_cancelled | bits_transfer_started | bits_transfer_stopped | "
                              "bits_transfer_error | bits_job_file (BITS-Client)."},
}
_WINDOWS_TABLES: tuple[Table, ...] = (
    _event("logging", "Changes to logging and auditing itself (defense impairment, T1070.001 / T1562): event logs "
           "cleared (Security 1102, System 104), audit policy changed (4719), sensor configuration and state changes "
           "(Sysmon 4 / 16, Microsoft Defender 5001 / 5007 / 5010 / 5012).", (
        _c("action", "VARCHAR", "log_cleared | audit_policy_changed | sensor_state_changed | sensor_config_changed | "
           "sensor_disabled.", (), "activity_name", "event.action"),
        *_SUBJECT,
        _c("backup_path", "VARCHAR", "Where the cleared log was backed up, when it was.", ("BackupPath",)),
        _c("policy_changes", "VARCHAR", "Audit policy changes as logged (4719 AuditPolicyChanges, e.g. '%%8448').",
           ("AuditPolicyChanges",)),
        _c("subcategory_guid", "VARCHAR", "Audit subcategory GUID (4719).", ("SubcategoryGuid",)),
        _c("state", "VARCHAR", "Sensor state (Sysmon 4 State).", ("State",)),
        _c("configuration", "VARCHAR", "Sensor configuration (Sysmon 16 Configuration).", ("Configuration",)),
        _c("old_value", "VARCHAR", "Setting before the change (Defender 5007 'Old Value').", ("Old Value", "OldValue")),
        _c("new_value", "VARCHAR", "Setting after the change (Defender 5007 'New Value').", ("New Value", "NewValue")),
    ), ()),
)
EVENT_TABLES = _extend(EVENT_TABLES, aliases=_WINDOWS_ALIASES, columns=_WINDOWS_COLUMNS, docs=_WINDOWS_DOCS,
                       new=_WINDOWS_TABLES)

# Linux sources (issue 3; sources/auditd.py, authlog.py, sysmon_linux.py, la_syslog.py, la_vmconnection.py).
# auditd events also keep every audit field in `data` under its own name (docs/sources.md).
_LINUX_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "process": {"process_path": ("exe",), "process_id": ("pid",), "parent_process_id": ("ppid",),
                "current_directory": ("cwd",), "command_line": ("cmdline",)},
    "network": {"process_path": ("exe",), "process_id": ("pid",), "bytes_out": ("BytesSent",),
                "bytes_in": ("BytesReceived",), "flow_id": ("ConnectionId",)},
    "auth": {"target_user": ("acct",), "src_ip": ("addr",), "process_path": ("exe",), "process_id": ("pid",)},
    "account": {"target_user": ("acct",), "group_name": ("grp",)},
}
_LINUX_DOCS: dict[str, dict[str, str]] = {
    "auth": {"action": "Linux also: session_start | session_end | authorization | auth_error | "
                       "credential_acquired | credential_disposed | credential_refreshed | role_change (PAM, "
                       "auditd USER_* / CRED_*, systemd-logind)."},
    "account": {"action": "Linux also: group_created | group_deleted | group_changed (shadow-utils, auditd)."},
}
EVENT_TABLES = _extend(EVENT_TABLES, aliases=_LINUX_ALIASES, columns={}, docs=_LINUX_DOCS)

# --------------------------------------------------------------------------------------
# State tables: small, mutable, in the state database.
# --------------------------------------------------------------------------------------
STATE_TABLES: tuple[Table, ...] = (
    Table("sources", "Ledger of ingested sources: one row per distinct content.", (
        _c("sha256", "VARCHAR", "SHA-256 of the content (decompressed member for archives)."),
        _c("path", "VARCHAR", "Path as first given."),
        _c("size", "BIGINT", "Size in bytes."),
        _c("format", "VARCHAR", "Source parser that read it."),
        _c("ingest_id", "VARCHAR", "Ingest run that stored it."),
        _c("events", "BIGINT", "Events stored."),
        _c("warnings", "BIGINT", "Warnings stored."),
        _c("min_time", "TIMESTAMP", "Earliest event time."),
        _c("max_time", "TIMESTAMP", "Latest event time."),
        _c("ingested_at", "TIMESTAMP", "When it was committed."),
    ), "state", primary_key=("sha256",)),
    Table("files", "Manifest of the lake: the Parquet files readers may see. A file not listed here does not "
          "exist for readers (it is an unfinished write and is removed on recovery).", (
        _c("path", "VARCHAR", "Path relative to the store directory."),
        _c("table_name", "VARCHAR", "Event table."),
        _c("day", "VARCHAR", "Partition day (YYYY-MM-DD, or 'unknown'; 'mixed' for a source's small partitions "
           "of several days written as one file, bounded by min_time/max_time)."),
        _c("rows", "BIGINT", "Rows in the file."),
        _c("bytes", "BIGINT", "File size."),
        _c("min_time", "TIMESTAMP", "Earliest event time."),
        _c("max_time", "TIMESTAMP", "Latest event time."),
        _c("ingest_id", "VARCHAR", "Run that wrote it."),
        _c("status", "VARCHAR", "active | retired (replaced by compaction; deleted after a grace period)."),
        _c("changed_at", "TIMESTAMP", "When status last changed."),
    ), "state", primary_key=("path",)),
    Table("ingests", "Ingest runs.", (
        _c("ingest_id", "VARCHAR", "Run id."),
        _c("started_at", "TIMESTAMP", "Start."),
        _c("finished_at", "TIMESTAMP", "End (NULL while running or if killed)."),
        _c("command", "VARCHAR", "What was asked."),
        _c("sources", "BIGINT", "Sources committed."),
        _c("skipped", "BIGINT", "Sources skipped as already ingested."),
        _c("events", "BIGINT", "Events committed."),
        _c("warnings", "BIGINT", "Warnings stored."),
    ), "state", primary_key=("ingest_id",)),
    Table("warnings", "Bad input: one row per record (or file) that could not be read as it should.", (
        _c("ingest_id", "VARCHAR", "Run that met it."),
        _c("source", "VARCHAR", "Path as given."),
        _c("position", "BIGINT", "Record / line / byte offset, NULL for whole-file problems."),
        _c("reason", "VARCHAR", "Short, stable reason code (e.g. bad_json, truncated, unknown_format)."),
        _c("detail", "VARCHAR", "Human detail, with a bounded excerpt of the offending input."),
        _c("time", "TIMESTAMP", "When it was recorded."),
    ), "state"),
    Table("findings", "Detections: one row per finding, the JSON contract of DESIGN.md.", (
        _c("id", "VARCHAR", "Stable finding id (same input -> same id)."),
        _c("time", "TIMESTAMP", "First event time."),
        _c("time_last", "TIMESTAMP", "Last event time."),
        _c("detector", "VARCHAR", "sigma | ioc | <analytic> | import."),
        _c("rule_id", "VARCHAR", "Rule / analytic id."),
        _c("title", "VARCHAR", "Title."),
        _c("severity", "VARCHAR", "informational | low | medium | high | critical."),
        _c("tactics", "VARCHAR[]", "ATT&CK tactic ids (TA....)."),
        _c("techniques", "VARCHAR[]", "ATT&CK technique ids (T....[.sub])."),
        _c("stage", "VARCHAR", "Kill-chain stage."),
        _c("entities", "JSON", "Entities: {kind: value or [values]}."),
        _c("evidence", "JSON", "Evidence references: [{source, record, table, time, event_id}]."),
        _c("campaign", "VARCHAR", "Campaign id or NULL."),
        _c("score", "DOUBLE", "Detector's confidence/weight 0..1 (ranking, campaign scoring)."),
        _c("description", "VARCHAR", "What was seen, in words."),
        _c("extra", "JSON", "Detector-specific detail."),
        _c("run_id", "VARCHAR", "Detection run that produced it."),
        _c("created_at", "TIMESTAMP", "When it was stored."),
    ), "state", primary_key=("id",)),
    Table("finding_entities", "Findings' entities exploded, for joins in correlation.", (
        _c("finding_id", "VARCHAR", "Finding."),
        _c("kind", "VARCHAR", "host | user | src_ip | dst_ip | domain | process | hash | ..."),
        _c("value", "VARCHAR", "Normalised value."),
    ), "state"),
    Table("campaigns", "Campaigns: linked findings along the kill chain.", (
        _c("id", "VARCHAR", "Stable campaign id."),
        _c("score", "DOUBLE", "Campaign score."),
        _c("stages", "VARCHAR[]", "Stages seen, in kill-chain order."),
        _c("first_seen", "TIMESTAMP", "First evidence."),
        _c("detected_at", "TIMESTAMP", "When the score crossed the detection threshold (NULL if never)."),
        _c("last_seen", "TIMESTAMP", "Last activity."),
        _c("dwell_seconds", "DOUBLE", "first_seen -> detected_at."),
        _c("hosts", "VARCHAR[]", "Hosts involved."),
        _c("users", "VARCHAR[]", "Users involved."),
        _c("findings", "VARCHAR[]", "Finding ids."),
        _c("attribution", "JSON", "Ranked groups [{group_id, name, score, why}]."),
        _c("explanation", "JSON", "Why each finding belongs and why the score is what it is."),
        _c("status", "VARCHAR", "open | benign | closed."),
        _c("updated_at", "TIMESTAMP", "Last update."),
    ), "state", primary_key=("id",)),
    Table("runs", "Detection / correlation runs and their report (errors per rule, counts).", (
        _c("run_id", "VARCHAR", "Run id."),
        _c("kind", "VARCHAR", "detect | correlate | hunt | ..."),
        _c("started_at", "TIMESTAMP", "Start."),
        _c("finished_at", "TIMESTAMP", "End."),
        _c("report", "JSON", "Counts, timings and error records."),
    ), "state", primary_key=("run_id",)),
    Table("baselines", "Learned baselines of analytics, updated incrementally.", (
        _c("analytic", "VARCHAR", "Analytic name."),
        _c("key", "VARCHAR", "What is baselined (e.g. 'parent|child', 'src->dst:port')."),
        _c("first_seen", "TIMESTAMP", "First time seen."),
        _c("last_seen", "TIMESTAMP", "Last time seen."),
        _c("count", "BIGINT", "Occurrences."),
        _c("hosts", "BIGINT", "Distinct hosts (when meaningful)."),
        _c("value", "JSON", "Analytic-specific statistics."),
    ), "state", primary_key=("analytic", "key")),
    Table("analytic_ingests", "Which ingest runs each behavioural analytic has folded into its baselines, so a "
          "run reads only events it has not seen (incremental; no re-scan of old lake files).", (
        _c("analytic", "VARCHAR", "Analytic (or shared aggregate, e.g. 'pair_days') name."),
        _c("ingest_id", "VARCHAR", "Ingest run whose events were folded."),
        _c("rows", "BIGINT", "Events folded from it."),
        _c("folded_at", "TIMESTAMP", "When."),
    ), "state", primary_key=("analytic", "ingest_id")),
    Table("pair_days", "Flows aggregated per (internal source, destination, UTC day): the compact series the "
          "beaconing and slow-exfiltration analytics score, kept instead of re-reading raw flows. One row per "
          "(kind, src, dst, day), kept so by the fold (no index: bulk appends of millions of rows stay fast).", (
        _c("kind", "VARCHAR", "ip (network flows by destination address) | name (TLS SNI / HTTP Host)."),
        _c("src", "VARCHAR", "Source IP address."),
        _c("dst", "VARCHAR", "Destination IP address or server name (lower case)."),
        _c("day", "TIMESTAMP", "UTC day (midnight)."),
        _c("host", "VARCHAR", "Host key of the source when a host log named it (Sysmon 3 initiated), else NULL."),
        _c("ts", "BIGINT[]", "Connection start times, epoch seconds, sorted (one per connection)."),
        _c("sizes", "BIGINT[]", "Bytes sent by the source per connection (bytes_out, or HTTP request bytes), "
           "in the order of `ts`."),
        _c("conns", "BIGINT", "Connections."),
        _c("bytes_out", "BIGINT", "Bytes from source to destination."),
        _c("bytes_in", "BIGINT", "Bytes from destination to source."),
        _c("duration", "DOUBLE", "Sum of connection durations, seconds."),
        _c("ports", "VARCHAR[]", "Destination ports seen (at most 16)."),
        _c("events", "VARCHAR[]", "Event references of the first and last connection of the day, as "
           "'table|event_id|epoch microseconds' (resolved to evidence through the `sources` ledger)."),
        _c("updated_at", "TIMESTAMP", "When new events were last folded into the row (consumers score rows "
           "updated since their last run)."),
    ), "state"),
    Table("dns_domains", "DNS queries aggregated per registered domain (public-suffix aware) for the DNS "
          "tunnelling analytic, updated incrementally.", (
        _c("domain", "VARCHAR", "Registered domain (eTLD+1, PSL with private suffixes)."),
        _c("first_seen", "TIMESTAMP", "First query."),
        _c("last_seen", "TIMESTAMP", "Last query."),
        _c("queries", "BIGINT", "Queries."),
        _c("sub_hashes", "BIGINT[]", "Hashes of distinct subdomain parts (capped; see docs/detections.md)."),
        _c("sub_len_sum", "BIGINT", "Sum of subdomain-part lengths over distinct names."),
        _c("sub_len_max", "BIGINT", "Longest subdomain part."),
        _c("entropy_sum", "DOUBLE", "Sum of Shannon entropies (bits/char) of distinct subdomain parts."),
        _c("names", "BIGINT", "Distinct names counted in the sums."),
        _c("rare_qtypes", "BIGINT", "TXT, NULL, CNAME, MX, SRV, ANY, PRIVATE (>= 65280) queries."),
        _c("null_qtypes", "BIGINT", "NULL (10) and private-range (>= 65280) queries: practically unused outside "
           "tunnels."),
        _c("nxdomain", "BIGINT", "Queries answered NXDOMAIN."),
        _c("srcs", "VARCHAR[]", "Querying sources (IP or host key; at most 64)."),
        _c("evidence", "JSON", "Up to four event references."),
        _c("updated_at", "TIMESTAMP", "When new queries were last folded into the row."),
    ), "state", primary_key=("domain",)),
    Table("suppressions", "Analyst feedback: findings or campaigns marked benign, honoured by later runs.", (
        _c("id", "VARCHAR", "Suppression id."),
        _c("scope", "VARCHAR", "finding | campaign | rule."),
        _c("target", "VARCHAR", "Finding id, campaign id or rule id."),
        _c("conditions", "JSON", "Optional field conditions."),
        _c("reason", "VARCHAR", "Why (required)."),
        _c("author", "VARCHAR", "Who."),
        _c("created_at", "TIMESTAMP", "When."),
        _c("expires_at", "TIMESTAMP", "Expiry (NULL = never)."),
    ), "state", primary_key=("id",)),
    # -- correlation state (issue 6; see docs/campaigns.md) ------------------------------------------
    Table("campaign_members", "Correlation's decision for every finding it has processed: the campaign it joined "
          "(or why none), the link that brought it in, and its evidence weight. A finding absent from this table "
          "has not been correlated yet.", (
        _c("finding_id", "VARCHAR", "Finding."),
        _c("campaign_id", "VARCHAR", "Campaign (cluster) id; NULL when the finding joined none."),
        _c("disposition", "VARCHAR", "member | routine (its rule is routine on its host and no shared artifact "
           "linked it) | suppressed (analyst feedback)."),
        _c("time", "TIMESTAMP", "Finding's first event time."),
        _c("time_last", "TIMESTAMP", "Finding's last event time."),
        _c("host", "VARCHAR", "Primary host key of the finding."),
        _c("rule_id", "VARCHAR", "Detector rule id."),
        _c("detector", "VARCHAR", "Detector."),
        _c("severity", "VARCHAR", "Severity."),
        _c("stage", "VARCHAR", "Kill-chain stage the detector gave (NULL: no tactic)."),
        _c("tactics", "VARCHAR[]", "ATT&CK tactic ids."),
        _c("weight", "DOUBLE", "Evidence weight (severity x rule novelty) used in the campaign score."),
        _c("link", "VARCHAR", "Strongest link that made it join: seed | host_time | entity | process | session | "
           "edge | credential_use."),
        _c("via", "VARCHAR", "Finding it was linked to (NULL for a seed)."),
        _c("link_weight", "DOUBLE", "Combined link weight (noisy-OR of all links to its campaign)."),
        _c("why", "JSON", "All links that joined it: [{link, via, entity, weight, detail}]."),
        _c("suppressed", "BOOLEAN", "Marked benign: kept as a member, contributes nothing to the score."),
        _c("run_id", "VARCHAR", "Correlation run that processed it."),
        _c("processed_at", "TIMESTAMP", "When."),
    ), "state", primary_key=("finding_id",)),
    Table("corr_entity_index", "Linkable keys of campaign members (normalised entities, process and logon-session "
          "instances, touched hosts), for joins with newly arriving findings.", (
        _c("finding_id", "VARCHAR", "Member finding."),
        _c("kind", "VARCHAR", "ip | domain | url | hash | user | process | file | service | proc | session | "
           "... (docs/campaigns.md)."),
        _c("value", "VARCHAR", "Normalised value."),
        _c("host", "VARCHAR", "Host key of the finding."),
        _c("time", "TIMESTAMP", "Finding time."),
        _c("weight", "DOUBLE", "Link weight of a 'touch' row (an edge to the host in `value`); NULL otherwise."),
    ), "state"),
    Table("corr_entities", "Prevalence of every entity value seen in findings: on how many hosts it appears. "
          "Rarity = min(1, k / hosts), k = max(2, 0.1 % of known hosts), weights the links it makes.", (
        _c("kind", "VARCHAR", "Entity kind."),
        _c("value", "VARCHAR", "Normalised value."),
        _c("n_hosts", "BIGINT", "Distinct hosts whose findings carry it (exact up to 256, an estimate beyond)."),
        _c("hosts", "VARCHAR[]", "Those hosts (at most 256)."),
        _c("findings", "BIGINT", "Findings carrying it."),
        _c("first_seen", "TIMESTAMP", "First finding time."),
        _c("last_seen", "TIMESTAMP", "Last finding time."),
    ), "state", primary_key=("kind", "value")),
    Table("corr_rule_hosts", "How often each rule fires on each host, in distinct hours: a rule seen in enough "
          "earlier hours on a host is routine there.", (
        _c("rule_id", "VARCHAR", "Detector and rule id ('detector:rule_id')."),
        _c("host", "VARCHAR", "Host key."),
        _c("findings", "BIGINT", "Findings."),
        _c("buckets", "VARCHAR[]", "The earliest distinct hours (YYYY-MM-DDTHH) it fired in, at most the routine "
           "count."),
        _c("routine_from", "TIMESTAMP", "Start of the hour after which it is routine on this host (NULL: not yet)."),
        _c("first_seen", "TIMESTAMP", "First finding time."),
        _c("last_seen", "TIMESTAMP", "Last finding time."),
    ), "state", primary_key=("rule_id", "host")),
    Table("corr_hosts", "Per host: how long correlation has watched it and in how many distinct hours it showed "
          "unusual (non-routine) findings; that rate weighs proximity links on the host.", (
        _c("host", "VARCHAR", "Host key."),
        _c("first_seen", "TIMESTAMP", "First finding time."),
        _c("last_seen", "TIMESTAMP", "Last finding time."),
        _c("findings", "BIGINT", "Findings seen."),
        _c("active_hours", "BIGINT", "Distinct hours with at least one non-routine finding."),
        _c("last_active", "TIMESTAMP", "Start of the last such hour."),
    ), "state", primary_key=("host",)),
    Table("corr_host_stages", "Per host and kill-chain stage: in how many distinct hours non-routine findings of "
          "that stage appeared; that rate weighs `progression` links (a later stage on a host after an earlier "
          "one).", (
        _c("host", "VARCHAR", "Host key."),
        _c("stage", "VARCHAR", "Kill-chain stage (model/killchain.py)."),
        _c("hours", "BIGINT", "Distinct hours with at least one non-routine finding of this stage on the host."),
        _c("last_hour", "TIMESTAMP", "Start of the last such hour."),
    ), "state", primary_key=("host", "stage")),
    Table("campaign_aliases", "Campaign ids absorbed by merges, and the campaign that absorbed them.", (
        _c("alias", "VARCHAR", "Absorbed campaign id."),
        _c("campaign_id", "VARCHAR", "Surviving campaign id."),
        _c("merged_at", "TIMESTAMP", "When."),
        _c("run_id", "VARCHAR", "Correlation run."),
    ), "state", primary_key=("alias",)),

    Table("sigma_evaluated", "Sigma retro-hunt ledger: which rule versions were evaluated over which ingest runs' "
          "events of which table, within which time bounds. Incremental `detect` runs evaluate only the pairs "
          "not covered here (new rules x old events, all rules x new events).", (
        _c("rule_id", "VARCHAR", "Sigma rule id."),
        _c("rule_hash", "VARCHAR", "Hash of the compiled rule (condition, routing, suppressions, metadata)."),
        _c("table_name", "VARCHAR", "Event table."),
        _c("ingest_id", "VARCHAR", "Ingest run whose events were evaluated."),
        _c("since", "TIMESTAMP", "Lower time bound of the evaluation (NULL: none)."),
        _c("until", "TIMESTAMP", "Upper time bound (NULL: none)."),
        _c("matches", "BIGINT", "Events matched."),
        _c("run_id", "VARCHAR", "Detection run."),
        _c("evaluated_at", "TIMESTAMP", "When."),
    ), "state", primary_key=("rule_id", "rule_hash", "table_name", "ingest_id")),
    Table("sigma_matches", "Events matched by Sigma rules (after suppressions): what Sigma findings, prevalence and "
          "correlation rules are computed from.", (
        _c("rule_id", "VARCHAR", "Sigma rule id."),
        _c("rule_hash", "VARCHAR", "Rule version that matched."),
        _c("event_id", "VARCHAR", "Matched event."),
        _c("ingest_id", "VARCHAR", "Ingest run of the event."),
        _c("table_name", "VARCHAR", "Event table."),
        _c("time", "TIMESTAMP", "Event time."),
        _c("host", "VARCHAR", "Host key."),
        _c("source", "VARCHAR", "Source path."),
        _c("record", "BIGINT", "Record in the source."),
        _c("event_code", "INTEGER", "Event code."),
        _c("entities", "JSON", "Entity values of the event {kind: value}."),
        _c("fields", "JSON", "Values of the fields correlation rules group or count by {field: value}."),
        _c("run_id", "VARCHAR", "Detection run."),
    ), "state", primary_key=("rule_id", "event_id")),
    Table("meta", "Store metadata (schema version, creation time).", (
        _c("key", "VARCHAR", "Key."),
        _c("value", "VARCHAR", "Value."),
    ), "state", primary_key=("key",)),
    Table("host_addresses", "Address context: which host an IP address belonged to, learned from DHCP, Kerberos and "
          "logon events, host network events, agent inventories and DNS (docs/sources.md, 'Address context'). One row "
          "per (ip, host, kind); updated incrementally after every ingest.", (
        _c("ip", "VARCHAR", "Address, normalised (compressed IPv6, IPv4-mapped IPv6 as IPv4)."),
        _c("host", "VARCHAR", "Host key the address maps to (same key as the `host` column of host telemetry)."),
        _c("kind", "VARCHAR", "Evidence kind: dhcp | machine_account | logon | host_network | agent | dns_ptr | "
           "dns_a."),
        _c("name", "VARCHAR", "Host name as the evidence wrote it (one example)."),
        _c("first_seen", "TIMESTAMP", "First evidence."),
        _c("last_seen", "TIMESTAMP", "Last evidence."),
        _c("valid_until", "TIMESTAMP", "End of the latest DHCP lease (dhcp only; NULL otherwise)."),
        _c("evidence", "BIGINT", "Events that support the pair."),
        _c("updated_at", "TIMESTAMP", "When the row last changed."),
    ), "state", primary_key=("ip", "host", "kind")),
    Table("derived_progress", "Which ingest runs a derived state (e.g. host_addresses) has already absorbed, so "
          "updates are incremental and exactly-once.", (
        _c("stage", "VARCHAR", "Derived state, e.g. 'host_addresses'."),
        _c("ingest_id", "VARCHAR", "Ingest run absorbed."),
        _c("done_at", "TIMESTAMP", "When."),
    ), "state", primary_key=("stage", "ingest_id")),
)

SCHEMA_VERSION = 1


def _index(tables: Iterable[Table]) -> dict[str, Table]:
    out: dict[str, Table] = {}
    for t in tables:
        if t.name in out:
            raise RegistryError(f"duplicate table name {t.name}")
        out[t.name] = t
    return out


EVENTS: dict[str, Table] = _index(EVENT_TABLES)
STATE: dict[str, Table] = _index(STATE_TABLES)
if set(EVENTS) & set(STATE):  # pragma: no cover - guarded at import
    raise RegistryError(f"event and state tables share names: {set(EVENTS) & set(STATE)}")


def event_table(name: str) -> Table:
    """The event table called `name` (KeyError with the known names otherwise)."""
    try:
        return EVENTS[name]
    except KeyError:
        raise KeyError(f"unknown event table {name!r}; known: {', '.join(EVENTS)}") from None


def arrow_schema(table: Table) -> pa.Schema:
    """Arrow schema of a table, in column order."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in table.columns])


def duckdb_ddl(table: Table, qualified_name: str | None = None) -> str:
    """CREATE TABLE statement for a table (state tables live in DuckDB)."""
    cols = ",\n  ".join(f'"{c.name}" {c.duckdb_type}' for c in table.columns)
    pk = f",\n  PRIMARY KEY ({', '.join(table.primary_key)})" if table.primary_key else ""
    return f"CREATE TABLE IF NOT EXISTS {qualified_name or table.name} (\n  {cols}{pk}\n)"


def empty_select(table: Table) -> str:
    """A SELECT yielding zero rows with the table's columns and types (for empty tables)."""
    cols = ", ".join(f'CAST(NULL AS {c.duckdb_type}) AS "{c.name}"' for c in table.columns)
    return f"SELECT {cols} WHERE false"


def sigma_fields(table: Table) -> dict[str, str]:
    """Sigma field name -> column, for one table. Unlisted fields are looked up in `data`."""
    out: dict[str, str] = {}
    for col in table.columns:
        for alias in col.sigma:
            out.setdefault(alias, col.name)
    return out


def render_markdown() -> str:
    """docs/schema.md, generated. Do not edit the file by hand: run `python -m aptwatch.model.schema`."""
    lines = [
        "# Schema",
        "",
        "Generated from `src/aptwatch/model/schema.py` by `python -m aptwatch.model.schema > docs/schema.md`;",
        "a test fails when this file is stale. Types are logical; DuckDB / Arrow / Spark types follow",
        f"the table in the module. Schema version {SCHEMA_VERSION}.",
        "",
        "Every event table starts with the common columns "
        + ", ".join(f"`{c.name}`" for c in COMMON_HEAD)
        + " and ends with "
        + ", ".join(f"`{c.name}`" for c in COMMON_TAIL)
        + ". The view `events` spans all event tables with the common columns.",
        "",
        "## Common columns",
        "",
        *_column_table(COMMON_HEAD + COMMON_TAIL),
        "",
        "## Event tables",
        "",
    ]
    for t in EVENT_TABLES:
        lines += [f"### `{t.name}`", "", t.doc, ""]
        if t.sigma_categories:
            lines += ["Sigma logsource categories: " + ", ".join(f"`{c}`" for c in t.sigma_categories) + ".", ""]
        own = [c for c in t.columns if c.name not in COMMON_NAMES]
        lines += [*(_column_table(own) if own else ["Common columns only; every field is in `data`."]), ""]
    lines += ["## State tables", "", "These live in the state database (`state.duckdb`) of a store.", ""]
    for t in STATE_TABLES:
        pk = f" Primary key: {', '.join(t.primary_key)}." if t.primary_key else ""
        lines += [f"### `{t.name}`", "", t.doc + pk, "", "| column | type | doc |", "|---|---|---|"]
        lines += [f"| `{c.name}` | {c.type} | {c.doc} |" for c in t.columns]
        lines.append("")
    return "\n".join(lines)


def _column_table(columns: Iterable[Column]) -> list[str]:
    rows = ["| column | type | doc | Sigma fields | OCSF | ECS |", "|---|---|---|---|---|---|"]
    for c in columns:
        sigma = ", ".join(f"`{s}`" for s in c.sigma)
        rows.append(f"| `{c.name}` | {c.type} | {c.doc.replace('|', '/')} | {sigma} | {c.ocsf or ''} | "
                    f"{c.ecs or ''} |")
    return rows


if __name__ == "__main__":  # pragma: no cover - documentation generator
    import sys

    sys.stdout.write(render_markdown() + "\n")
