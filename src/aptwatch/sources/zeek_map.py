"""Zeek log paths -> schema tables: the mapping shared by the TSV and JSON Zeek parsers.

Each Zeek log (`conn`, `dns`, ...) has a `LogMap`: its event table, the columns copied from
Zeek fields (`Col`, listed as Sigma aliases in the schema) and the columns derived from
fields (`Derived`: a SQL template; the source fields stay in `data` because the column holds
a transformed value). Fields no column took go to `data` (TSV) or stay in `raw` (JSON, where
`raw` already is the flat record). The mapping is written once as data and turned into SQL
by `select_sql` over an `Accessor`, which knows how one input format spells a field (a TSV
column position, or a JSON path in one of the shipper styles).

Decisions (docs/sources.md, "Network"):
- conn -> network; dns -> dns; http -> http; ssl and x509 -> tls (x509 rows are certificates,
  without endpoints); files, smb_files, smb_mapping, pe -> file; kerberos, ntlm, rdp, ssh -> auth;
  notice -> ids_alert (sensor `zeek`); everything else (dce_rpc, weird, smtp, dhcp, software,
  ...) -> generic, all fields in `data`.
- `flow_id` is the Zeek `uid`, so records of one connection join across logs.
- Set / vector fields copied into a text column are joined with ',' (`answers` with ';', as the
  schema documents); single-valued columns (an address, a uid) take the first element.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from aptwatch.sources.netbase import sql_str

Kind = Literal["str", "lower", "int", "bigint", "double", "bool", "first", "join", "join_sc", "time"]


@dataclass(frozen=True)
class Col:
    """Column <- first non-NULL of `fields`, converted by `kind`. Copied fields leave `data`."""

    column: str
    fields: tuple[str, ...]
    kind: Kind = "str"


@dataclass(frozen=True)
class Derived:
    """Column <- SQL template over fields (`{name}` = the field's text, NULL when absent)."""

    column: str
    template: str


@dataclass(frozen=True)
class LogMap:
    path: str
    table: str
    cols: tuple[Col, ...] = ()
    derived: tuple[Derived, ...] = ()
    #: fields whose addresses give the host key (first internal wins; see netbase.endpoint_hosts)
    endpoints: tuple[tuple[str, ...], tuple[str, ...]] = (("id.orig_h",), ("id.resp_h",))
    #: fields that, when present, point to this log type (sniffing files without `#path` / `_path`)
    signature: frozenset[str] = field(default_factory=frozenset)


_CONN = (Col("flow_id", ("uid",)), Col("src_ip", ("id.orig_h",)), Col("src_port", ("id.orig_p",), "int"),
         Col("dst_ip", ("id.resp_h",)), Col("dst_port", ("id.resp_p",), "int"))
_COMMUNITY = (Col("community_id", ("community_id",)),)


#: a fingerprint that is a SHA-1 (40 hex digits), lower case; others (SHA-256) give NULL
_SHA1 = "(CASE WHEN length({v}) = 40 AND regexp_full_match(lower({v}), '[0-9a-f]+') THEN lower({v}) END)"


def _outcome(flag: str) -> Derived:
    """outcome from a Zeek bool field (success, auth_success)."""
    return Derived("outcome", f"(CASE WHEN {{{flag}:bool}} THEN 'success' WHEN NOT {{{flag}:bool}} THEN 'failure' END)")


def _lower_proto(field_name: str = "proto") -> Col:
    return Col("protocol", (field_name,), "lower")


LOGS: dict[str, LogMap] = {m.path: m for m in (
    LogMap("conn", "network", (
        *_CONN, _lower_proto(), Col("app_protocol", ("service",)), Col("duration", ("duration",), "double"),
        Col("bytes_out", ("orig_bytes",), "bigint"), Col("bytes_in", ("resp_bytes",), "bigint"),
        Col("packets_out", ("orig_pkts",), "bigint"), Col("packets_in", ("resp_pkts",), "bigint"),
        Col("conn_state", ("conn_state",)), *_COMMUNITY,
    ), signature=frozenset({"conn_state", "orig_bytes", "history"})),
    LogMap("dns", "dns", (
        *_CONN, Col("query", ("query",)), Col("query_type", ("qtype_name",)), Col("rcode", ("rcode_name",)),
        Col("answers", ("answers",), "join_sc"), *_COMMUNITY,
    ), signature=frozenset({"query", "qtype_name", "trans_id"})),
    LogMap("http", "http", (
        *_CONN, Col("method", ("method",)), Col("http_host", ("host",)), Col("uri", ("uri",)),
        Col("referrer", ("referrer",)), Col("user_agent", ("user_agent",)), Col("status_code", ("status_code",), "int"),
        Col("request_bytes", ("request_body_len",), "bigint"), Col("response_bytes", ("response_body_len",), "bigint"),
        Col("content_type", ("resp_mime_types",), "join"), Col("user", ("username",)), *_COMMUNITY,
    ), signature=frozenset({"trans_depth", "method", "uri", "status_code"})),
    LogMap("ssl", "tls", (
        *_CONN, Col("version", ("version",)), Col("cipher", ("cipher",)), Col("server_name", ("server_name",)),
        Col("subject", ("subject",)), Col("issuer", ("issuer",)), Col("ja3", ("ja3",)), Col("ja3s", ("ja3s",)),
        Col("established", ("established",), "bool"), Col("validation_status", ("validation_status",)), *_COMMUNITY,
    ), (
        # Zeek >= 4.2 logs certificate fingerprints (cert_chain_fps, SHA-256 by default); the SHA-1
        # column only takes a value that is one (40 hex digits).
        Derived("cert_sha1", _SHA1.format(v="{cert_chain_fps:first}")),
    ), signature=frozenset({"cipher", "server_name", "established", "resumed"})),
    LogMap("x509", "tls", (
        Col("subject", ("certificate.subject",)), Col("issuer", ("certificate.issuer",)),
    ), (
        Derived("cert_sha1", _SHA1.format(v="{fingerprint}")),
    ), endpoints=((), ()), signature=frozenset({"certificate.subject", "certificate.serial"})),
    LogMap("files", "file", (
        Col("flow_id", ("uid", "conn_uids"), "first"), Col("path", ("filename",)), Col("mime_type", ("mime_type",)),
        Col("size", ("seen_bytes", "total_bytes"), "bigint"), Col("md5", ("md5",), "lower"),
        Col("sha1", ("sha1",), "lower"), Col("sha256", ("sha256",), "lower"),
        # Zeek < 5: the sender / receiver sets; Zeek >= 5 logs the connection instead (see derived)
        Col("src_ip", ("tx_hosts",), "first"), Col("dst_ip", ("rx_hosts",), "first"),
    ), (
        Derived("action", "'transfer'"),
        Derived("file_name", "{filename:basename}"),
        # Zeek >= 5: is_orig says whether the originator sent the file (src = sender, dst = receiver)
        Derived("src_ip", "(CASE WHEN {is_orig:bool} THEN {id.orig_h} WHEN NOT {is_orig:bool} THEN {id.resp_h} END)"),
        Derived("dst_ip", "(CASE WHEN {is_orig:bool} THEN {id.resp_h} WHEN NOT {is_orig:bool} THEN {id.orig_h} END)"),
    ), endpoints=(("id.orig_h", "tx_hosts"), ("id.resp_h", "rx_hosts")),
        signature=frozenset({"fuid", "seen_bytes", "analyzers"})),
    LogMap("smb_files", "file", (
        Col("flow_id", ("uid",)), Col("src_ip", ("id.orig_h",)), Col("dst_ip", ("id.resp_h",)),
        Col("share_name", ("path",)), Col("path", ("name",)), Col("size", ("size",), "bigint"),
    ), (
        Derived("action", "(CASE {action} WHEN 'SMB::FILE_WRITE' THEN 'modify' WHEN 'SMB::FILE_DELETE' THEN 'delete' "
                          "WHEN 'SMB::FILE_RENAME' THEN 'rename' WHEN 'SMB::FILE_SET_ATTRIBUTE' THEN 'modify' "
                          "ELSE 'access' END)"),
        Derived("file_name", "{name:basename}"),
        Derived("relative_target", "{name}"),
    ), signature=frozenset({"prev_name", "times.modified"})),
    LogMap("smb_mapping", "file", (
        Col("flow_id", ("uid",)), Col("src_ip", ("id.orig_h",)), Col("dst_ip", ("id.resp_h",)),
        Col("share_name", ("path",)),
    ), (Derived("action", "'share_connect'"),), signature=frozenset({"share_type", "native_file_system"})),
    LogMap("pe", "file", (), (), endpoints=((), ()), signature=frozenset({"compile_ts", "is_exe", "section_names"})),
    LogMap("kerberos", "auth", (
        *_CONN, Col("service", ("service",)), Col("status", ("error_msg",)), Col("ticket_encryption", ("cipher",)),
    ), (
        Derived("action", "(CASE {request_type} WHEN 'AS' THEN 'tgt_request' WHEN 'TGS' THEN 'service_ticket' END)"),
        _outcome("success"),
        Derived("protocol", "'kerberos'"),
        # `client` is user/REALM: split into the account and its realm (the field stays in data)
        Derived("target_user", "NULLIF(split_part({client}, '/', 1), '')"),
        Derived("target_domain", "NULLIF(split_part({client}, '/', 2), '')"),
    ), signature=frozenset({"request_type", "client", "till"})),
    LogMap("ntlm", "auth", (
        *_CONN, Col("target_user", ("username",)), Col("target_domain", ("domainname",)),
        Col("workstation", ("hostname",)),
        Col("target_server", ("server_nb_computer_name", "server_dns_computer_name")),
    ), (
        Derived("action", "'credential_validation'"),
        _outcome("success"),
        Derived("protocol", "'ntlm'"),
    ), signature=frozenset({"domainname", "server_nb_computer_name"})),
    LogMap("rdp", "auth", (
        *_CONN, Col("target_user", ("cookie",)), Col("status", ("result",)), Col("workstation", ("client_name",)),
        Col("auth_package", ("security_protocol",)),
    ), (
        Derived("action", "'rdp'"),
        Derived("outcome", "(CASE WHEN {result} = 'Success' THEN 'success' WHEN {result} IS NOT NULL "
                           "THEN 'failure' END)"),
        Derived("protocol", "'rdp'"),
    ), signature=frozenset({"cookie", "keyboard_layout", "client_build"})),
    LogMap("ssh", "auth", (*_CONN,), (
        Derived("action", "'ssh'"),
        _outcome("auth_success"),
        Derived("protocol", "'ssh'"),
    ), signature=frozenset({"auth_success", "host_key", "kex_alg"})),
    LogMap("notice", "ids_alert", (
        *_CONN, _lower_proto(), Col("signature", ("note",)), Col("message", ("msg",)),
        Col("alert_action", ("actions",), "join"),
    ), (
        # notices about a host rather than a connection name it in src / dst / p
        Derived("src_ip", "{src}"), Derived("dst_ip", "{dst}"), Derived("dst_port", "TRY_CAST({p} AS INTEGER)"),
        Derived("sensor", "'zeek'"),
        Derived("signature_id", "{note}"),
        Derived("category", "NULLIF(split_part({note}, '::', 1), {note})"),
    ), endpoints=(("id.orig_h", "src"), ("id.resp_h", "dst")), signature=frozenset({"note", "msg", "actions"})),
)}

#: logs with no table of their own: everything in `data` of the generic table
GENERIC_SIGNATURES: dict[str, frozenset[str]] = {
    "dce_rpc": frozenset({"endpoint", "operation", "named_pipe"}),
    "weird": frozenset({"name", "addl", "notice", "peer"}),
    "smtp": frozenset({"mailfrom", "rcptto", "helo"}),
    "dhcp": frozenset({"assigned_addr", "lease_time", "msg_types"}),
    "software": frozenset({"software_type", "unparsed_version"}),
    "loaded_scripts": frozenset({"name"}),
    "packet_filter": frozenset({"node", "filter", "init"}),
    "capture_loss": frozenset({"ts_delta", "gaps", "percent_lost"}),
    "reporter": frozenset({"level", "message", "location"}),
    "stats": frozenset({"mem", "pkts_proc", "bytes_recv"}),
    "known_hosts": frozenset({"host"}),
    "known_services": frozenset({"port_num", "port_proto", "service"}),
    "known_certs": frozenset({"host", "port_num", "subject", "issuer_subject"}),
    "dpd": frozenset({"analyzer", "failure_reason"}),
    "analyzer": frozenset({"analyzer_kind", "analyzer_name", "failure_reason"}),
    "tunnel": frozenset({"tunnel_type", "action"}),
    "sip": frozenset({"call_id", "request_from", "request_to"}),
    "quic": frozenset({"client_initial_dcid", "client_protocol"}),
    "ftp": frozenset({"command", "reply_code", "reply_msg"}),
    "irc": frozenset({"nick", "command", "value"}),
    "mysql": frozenset({"cmd", "arg", "rows"}),
    "radius": frozenset({"mac", "framed_addr", "tunnel_client"}),
    "socks": frozenset({"request", "request_p", "bound"}),
    "snmp": frozenset({"community", "get_requests"}),
    "ntp": frozenset({"stratum", "poll", "ref_id"}),
    "modbus": frozenset({"func", "exception"}),
    "arp": frozenset({"orig_hw", "resp_hw", "operation"}),
    "telemetry": frozenset({"peer", "metric_type", "prefix"}),
    "intel": frozenset({"seen.indicator", "matched", "sources"}),
    "signatures": frozenset({"sig_id", "event_msg", "sub_msg"}),
    "traceroute": frozenset({"src", "dst", "proto"}),
    "ocsp": frozenset({"hashAlgorithm", "issuerNameHash", "certStatus"}),
}


def signature_of(path: str) -> frozenset[str]:
    """The fields that identify a log path (empty when unknown)."""
    m = LOGS.get(path)
    return m.signature if m is not None else GENERIC_SIGNATURES.get(path, frozenset())


def logmap(path: str) -> LogMap:
    """The mapping for a Zeek log path; unknown paths go to `generic`."""
    return LOGS.get(path) or LogMap(path, "generic", endpoints=(("id.orig_h",), ("id.resp_h",)))


_NAME_RE = re.compile(r"^([a-z0-9_]+?)(?:[._-].*)?$")


def path_from_name(name: str) -> str | None:
    """Zeek log path from a file name: `conn.log`, `conn.09:00:00-10:00:00.log`, `dns.log.labeled`, `conn_1.log`."""
    base = name.rsplit("/", 1)[-1].lower()
    if not (base.endswith(".log") or ".log." in base or base.endswith(".labeled") or base.endswith(".json")):
        return None
    stem = base.split(".", 1)[0]
    if stem in LOGS or stem in GENERIC_SIGNATURES:
        return stem
    m = _NAME_RE.match(stem)
    if m and (m.group(1) in LOGS or m.group(1) in GENERIC_SIGNATURES):
        return m.group(1)
    return None


def path_from_fields(fields: Iterable[str]) -> str | None:
    """Zeek log path from the set of fields a record has (best signature overlap, ties: table logs first)."""
    have = set(fields)
    best, score = None, 0
    for path, sig in [*((p, m.signature) for p, m in LOGS.items()), *GENERIC_SIGNATURES.items()]:
        hits = len(sig & have)
        # one-field signatures (known_hosts: host) would claim any record; they need a name hint
        if len(sig) >= 2 and hits == len(sig) and hits > score:
            best, score = path, hits
    return best


def normalise_path(value: str) -> str:
    """A `_path` / `@stream` value as a Zeek path: lower case, without shipper prefixes and `.log`."""
    v = value.strip().lower()
    for prefix in ("zeek.", "zeek_", "bro.", "bro_"):
        if v.startswith(prefix):
            v = v[len(prefix):]
    if v.endswith(".log"):
        v = v[:-4]
    return v or "unknown"


# --------------------------------------------------------------------------------------
# SQL generation
# --------------------------------------------------------------------------------------
class Accessor(Protocol):
    """How one input spells a Zeek field in SQL."""

    def has(self, name: str) -> bool:
        """Is the field present in this input (a TSV column, or a JSON key seen / expected)?"""

    def text(self, name: str) -> str:
        """SQL VARCHAR: the field's value, NULL when unset."""

    def number(self, name: str, sql_type: str) -> str:
        """SQL: the field cast to `sql_type`, NULL when unset or not a number."""

    def items(self, name: str) -> str:
        """SQL VARCHAR[]: the elements of a set / vector field (a scalar becomes a one-element list)."""


_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-@]+)(?::([a-z]+))?\}")


def _bool_sql(text: str) -> str:
    return f"(CASE {text} WHEN 'T' THEN true WHEN 'true' THEN true WHEN 'F' THEN false WHEN 'false' THEN false END)"


def _basename_sql(text: str) -> str:
    return f"NULLIF(regexp_extract({text}, '([^/\\\\]*)$', 1), '')"


def _field_sql(acc: Accessor, name: str, kind: str) -> str:
    if not acc.has(name):
        return "NULL"
    if kind in ("str", ""):
        return acc.text(name)
    if kind == "lower":
        return f"lower({acc.text(name)})"
    if kind == "int":
        return acc.number(name, "INTEGER")
    if kind == "bigint":
        return acc.number(name, "BIGINT")
    if kind == "double":
        return acc.number(name, "DOUBLE")
    if kind == "bool":
        return _bool_sql(acc.text(name))
    if kind == "first":
        first = getattr(acc, "first", None)  # TSV knows scalars from #types: no list round trip
        return first(name) if first is not None else f"({acc.items(name)})[1]"
    if kind == "join":
        return f"array_to_string({acc.items(name)}, ',')"
    if kind == "join_sc":
        return f"array_to_string({acc.items(name)}, ';')"
    if kind == "basename":
        return _basename_sql(acc.text(name))
    raise ValueError(f"unknown field kind {kind}")


def _template_sql(acc: Accessor, template: str) -> tuple[str, set[str]]:
    used: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        used.add(m.group(1))
        return _field_sql(acc, m.group(1), m.group(2) or "str")

    return _PLACEHOLDER.sub(sub, template), used


def column_sql(m: LogMap, acc: Accessor) -> tuple[dict[str, str], set[str]]:
    """SQL expression per mapped column, and the fields copied verbatim (they leave `data`)."""
    out: dict[str, str] = {}
    consumed: set[str] = set()
    for c in m.cols:
        present = [f for f in c.fields if acc.has(f)]
        if not present:
            continue
        exprs = [_field_sql(acc, f, c.kind) for f in present]
        expr = exprs[0] if len(exprs) == 1 else f"COALESCE({', '.join(exprs)})"
        out[c.column] = expr
        consumed.update(present)
    for d in m.derived:
        expr, used = _template_sql(acc, d.template)
        if used and not any(acc.has(f) for f in used):
            continue
        # a derived value only fills in where no copied field gave one
        out[d.column] = f"COALESCE({out[d.column]}, {expr})" if d.column in out else expr
    return out, consumed


def endpoint_sql(m: LogMap, acc: Accessor) -> tuple[str, str]:
    """SQL for the originator / responder addresses used for the host key."""
    def pick(fields: tuple[str, ...]) -> str:
        present = [_field_sql(acc, f, "first") for f in fields if acc.has(f)]
        if not present:
            return "CAST(NULL AS VARCHAR)"
        return present[0] if len(present) == 1 else f"COALESCE({', '.join(present)})"
    return pick(m.endpoints[0]), pick(m.endpoints[1])


class JsonAccess:
    """Fields as SQL over `v`, the fields' values as text, extracted once per line
    (`json_extract_string` over `paths`; an array comes back as its JSON text and is parsed only
    where a list is wanted). `select_from(...)` writes that extraction.

    `style` says how a dotted name is spelled: `dotted` (a top-level key with dots, Zeek), `nested`
    (objects, Suricata EVE and dot-expanding shippers) or `underscore` (de-dotted keys).
    """

    def __init__(self, style: str) -> None:
        self.style = style
        self.paths: list[str] = []
        self._index: dict[str, int] = {}

    def path(self, name: str) -> str:
        if "." not in name or self.style == "dotted":
            return "$." + '"' + name.replace('"', '\\"') + '"'
        if self.style == "nested":  # numeric parts are array indexes: dns.queries.0.rrname
            out = "$"
            for part in name.split("."):
                out += f"[{part}]" if part.isdigit() else '."' + part.replace('"', '\\"') + '"'
            return out
        return "$." + '"' + name.replace(".", "_").replace('"', '\\"') + '"'

    def has(self, name: str) -> bool:
        return True  # any record may carry any field; absent ones extract as NULL

    def text(self, name: str) -> str:
        if name not in self._index:
            self._index[name] = len(self.paths) + 1
            self.paths.append(self.path(name))
        return f"v[{self._index[name]}]"

    def number(self, name: str, sql_type: str) -> str:
        return f"TRY_CAST({self.text(name)} AS {sql_type})"

    def _is_array(self, v: str) -> str:
        # json_valid on both sides of AND is safe (it never raises); the THEN branch runs only where true
        return f"(left({v}, 1) = '[' AND json_valid({v}))"

    def items(self, name: str) -> str:
        v = self.text(name)
        return (f"(CASE WHEN {v} IS NULL THEN NULL WHEN {self._is_array(v)} THEN json_extract_string({v}, '$[*]') "
                f"ELSE [{v}] END)")

    def first(self, name: str) -> str:
        v = self.text(name)
        return f"(CASE WHEN {self._is_array(v)} THEN json_extract_string({v}, '$[0]') ELSE {v} END)"

    def select_from(self, table: str) -> str:
        """`SELECT record, line, v FROM table`: call after every field was asked for."""
        v = ", ".join(sql_str(p) for p in self.paths)
        return f"SELECT record, line, json_extract_string(line, [{v}]) AS v FROM {table}"


#: Zeek #types -> how the value is written into the `data` JSON
def data_value_sql(zeek_type: str, raw: str, unset: str, empty: str, set_sep: str) -> str:
    """SQL for one TSV field's typed value in `data` (`raw` is its text): counts as numbers, bools as
    booleans, sets / vectors as lists, strings as text, `(empty)` as '' or [], unset as NULL. Built into
    one `json_object` per row: the engine's JSON writer is about three times faster than concatenating
    members (and writes unset fields as null, a faithful reading of Zeek's `-`)."""
    t = zeek_type.lower()
    unset_q, empty_q = sql_str(unset), sql_str(empty)
    if t.startswith(("set[", "vector[", "table[")):
        elem = t[t.index("[") + 1:].rstrip("]")
        items = f"string_split({raw}, {sql_str(set_sep)})"
        if elem in ("count", "int", "port"):
            items = f"list_transform({items}, lambda x: TRY_CAST(x AS BIGINT))"
        elif elem in ("double", "interval", "time"):
            items = (f"list_transform({items}, lambda x: CASE WHEN isfinite(TRY_CAST(x AS DOUBLE)) "
                     "THEN TRY_CAST(x AS DOUBLE) END)")
        elif elem == "bool":
            items = f"list_transform({items}, lambda x: CASE x WHEN 'T' THEN true WHEN 'F' THEN false END)"
        return f"(CASE {raw} WHEN {unset_q} THEN NULL WHEN {empty_q} THEN [] ELSE {items} END)"
    if t in ("count", "int", "port"):
        return f"TRY_CAST({raw} AS BIGINT)"
    if t in ("double", "interval", "time"):
        return f"(CASE WHEN isfinite(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE) END)"
    if t == "bool":
        return f"(CASE {raw} WHEN 'T' THEN true WHEN 'F' THEN false END)"
    return f"(CASE {raw} WHEN {unset_q} THEN NULL WHEN {empty_q} THEN '' ELSE {raw} END)"
