"""Suricata EVE JSON: one event per line (`eve.json`), or a JSON array of events (exports).

Each `event_type` goes to its table (docs/sources.md, "Network"):

| event_type | table | notes |
|---|---|---|
| flow, netflow | network | time = flow start; bytes / packets per direction (IP bytes, not payload) |
| alert | ids_alert | signature, id, category, severity, action; metadata mitre_* -> mitre_*, tag -> rule_groups |
| dns | dns | v1 (an event per query / answer), v2 (`answers` list or `grouped`), v3 (`queries`) |
| http | http | |
| tls | tls | fingerprint -> cert_sha1 (lower hex, no colons) |
| fileinfo | file | action `transfer` |
| smb | file / auth | share and file operations -> file; SESSION_SETUP with NTLMSSP or Kerberos -> auth |
| ssh, krb5, rdp (with a cookie) | auth | |
| anything else (anomaly, stats, dhcp, smtp, ...) | generic | |

`flow_id` is Suricata's flow_id (records of one flow link), `community_id` is kept when Suricata logs
it, the host key is the internal endpoint (netbase), `provider` the sensor name (EVE `host`) or
`suricata`, `channel` the event_type. `raw` is the event as written; `data` stays NULL because `raw`
is the whole record (nested fields are read with JSON paths: `raw->>'$.alert.metadata'`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.concurrency import prefetch
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.lines import iter_line_chunks
from aptwatch.sources.netbase import (
    BLANKS,
    AddressContext,
    DuckRun,
    attach_raw,
    bad_json_lines,
    drop_columns,
    endpoint_hosts,
    epoch_time_sql,
    parse_networks,
    sql_str,
)
from aptwatch.sources.zeek_map import Col, Derived, JsonAccess, LogMap, column_sql, endpoint_sql

_ENDS = (("src_ip",), ("dest_ip",))
_IDS = (Col("flow_id", ("flow_id",)), Col("src_ip", ("src_ip",)), Col("dst_ip", ("dest_ip",)))
_PORTS = (Col("src_port", ("src_port",), "int"), Col("dst_port", ("dest_port",), "int"))
_NET = (*_IDS, *_PORTS, Col("community_id", ("community_id",)))
_PROTO = Col("protocol", ("proto",), "lower")


def _flow(prefix: str) -> LogMap:
    return LogMap(prefix, "network", (
        *_NET, _PROTO, Col("app_protocol", ("app_proto",)), Col("conn_state", (f"{prefix}.state",)),
        Col("bytes_out", (f"{prefix}.bytes_toserver", f"{prefix}.bytes"), "bigint"),
        Col("bytes_in", (f"{prefix}.bytes_toclient",), "bigint"),
        Col("packets_out", (f"{prefix}.pkts_toserver", f"{prefix}.pkts"), "bigint"),
        Col("packets_in", (f"{prefix}.pkts_toclient",), "bigint"),
    ), (
        Derived("duration", f"(date_diff('microsecond', TRY_CAST({{{prefix}.start}} AS TIMESTAMPTZ), "
                            f"TRY_CAST({{{prefix}.end}} AS TIMESTAMPTZ)) / 1e6)"),
    ), _ENDS)


_SMB_FAILURES = ("STATUS_LOGON_FAILURE", "STATUS_ACCOUNT_DISABLED", "STATUS_ACCOUNT_LOCKED_OUT", "STATUS_ACCESS_DENIED",
                 "STATUS_PASSWORD_EXPIRED", "STATUS_ACCOUNT_RESTRICTION", "STATUS_WRONG_PASSWORD")

ROUTES: dict[str, LogMap] = {m.path: m for m in (
    _flow("flow"),
    _flow("netflow"),
    LogMap("alert", "ids_alert", (
        *_NET, _PROTO, Col("signature", ("alert.signature",)), Col("signature_id", ("alert.signature_id",)),
        Col("category", ("alert.category",)), Col("severity", ("alert.severity",)),
        Col("alert_action", ("alert.action",)),
        Col("mitre_tactics", ("alert.metadata.mitre_tactic_id",), "join"),
        Col("mitre_techniques", ("alert.metadata.mitre_technique_id",), "join"),
        Col("rule_groups", ("alert.metadata.tag",), "join"),
    ), (Derived("sensor", "'suricata'"),), _ENDS),
    LogMap("dns", "dns", (
        *_NET, Col("query", ("dns.rrname", "dns.queries.0.rrname"), "str"),
        Col("query_type", ("dns.rrtype", "dns.queries.0.rrtype")), Col("rcode", ("dns.rcode",)),
    ), (
        # v2/v3: a list of answer records, or `grouped` by type; v1: one answer record per event
        Derived("answers", "COALESCE(NULLIF(array_to_string(json_extract_string(line, '$.dns.answers[*].rdata'), ';'), "
                           "''), NULLIF(array_to_string(json_extract_string(line, '$.dns.grouped.*[*]'), ';'), ''))"),
        Derived("answers", "{dns.rdata}"),
    ), _ENDS),
    LogMap("http", "http", (
        *_NET, Col("http_host", ("http.hostname",)), Col("uri", ("http.url",)), Col("method", ("http.http_method",)),
        Col("user_agent", ("http.http_user_agent",)), Col("referrer", ("http.http_refer",)),
        Col("status_code", ("http.status",), "int"), Col("response_bytes", ("http.length",), "bigint"),
        Col("content_type", ("http.http_content_type",)),
    ), (), _ENDS),
    LogMap("tls", "tls", (
        *_NET, Col("version", ("tls.version",)), Col("server_name", ("tls.sni",)), Col("subject", ("tls.subject",)),
        Col("issuer", ("tls.issuerdn",)), Col("ja3", ("tls.ja3.hash",)), Col("ja3s", ("tls.ja3s.hash",)),
    ), (
        Derived("cert_sha1", "(CASE WHEN length(replace({tls.fingerprint}, ':', '')) = 40 "
                             "THEN lower(replace({tls.fingerprint}, ':', '')) END)"),
    ), _ENDS),
    LogMap("fileinfo", "file", (
        *_IDS, Col("path", ("fileinfo.filename",)), Col("size", ("fileinfo.size",), "bigint"),
        Col("md5", ("fileinfo.md5",), "lower"), Col("sha1", ("fileinfo.sha1",), "lower"),
        Col("sha256", ("fileinfo.sha256",), "lower"), Col("mime_type", ("fileinfo.mimetype",)),
    ), (
        Derived("action", "'transfer'"),
        Derived("file_name", "{fileinfo.filename:basename}"),
    ), _ENDS),
    LogMap("smb", "file", (
        *_IDS, Col("share_name", ("smb.share",)), Col("path", ("smb.filename",)),
    ), (
        Derived("action", "(CASE WHEN {smb.command} LIKE '%TREE_CONNECT%' THEN 'share_connect' "
                          "WHEN {smb.command} LIKE '%WRITE%' THEN 'modify' ELSE 'access' END)"),
        Derived("file_name", "{smb.filename:basename}"),
    ), _ENDS),
    LogMap("smb_auth", "auth", (
        *_IDS, *_PORTS, Col("target_user", ("smb.ntlmssp.user",)), Col("target_domain", ("smb.ntlmssp.domain",)),
        Col("workstation", ("smb.ntlmssp.host",)), Col("status", ("smb.status",)),
    ), (
        Derived("action", "'credential_validation'"),
        Derived("protocol", "(CASE WHEN {smb.ntlmssp.user} IS NOT NULL THEN 'ntlm' ELSE 'kerberos' END)"),
        Derived("outcome", "(CASE WHEN {smb.status} = 'STATUS_SUCCESS' THEN 'success' WHEN {smb.status} IN ("
                           + ", ".join(sql_str(s) for s in _SMB_FAILURES) + ") THEN 'failure' END)"),
        Derived("target_user", "split_part({smb.kerberos.snames:first}, '/', 1)"),
    ), _ENDS),
    LogMap("ssh", "auth", (*_IDS, *_PORTS), (Derived("action", "'ssh'"), Derived("protocol", "'ssh'")), _ENDS),
    LogMap("rdp_auth", "auth", (*_IDS, *_PORTS, Col("target_user", ("rdp.cookie",))), (
        Derived("action", "'rdp'"), Derived("protocol", "'rdp'")), _ENDS),
    LogMap("krb5", "auth", (
        *_IDS, *_PORTS, Col("target_user", ("krb5.cname",)), Col("target_domain", ("krb5.realm",)),
        Col("service", ("krb5.sname",)), Col("ticket_encryption", ("krb5.encryption",)),
        Col("status", ("krb5.error_code",)),
    ), (
        Derived("action", "(CASE WHEN {krb5.msg_type} LIKE 'KRB_AS_%' THEN 'tgt_request' "
                          "WHEN {krb5.msg_type} LIKE 'KRB_TGS_%' THEN 'service_ticket' END)"),
        Derived("outcome", "(CASE WHEN {krb5.failed:bool} THEN 'failure' WHEN NOT {krb5.failed:bool} "
                           "THEN 'success' END)"),
        Derived("protocol", "'kerberos'"),
    ), _ENDS),
)}

#: the classify query: ok, event_type and the route (table mapping) of each line
_CLASSIFY = """
SELECT {ok} AS ok, k[1] AS event_type,
  CASE k[1]
    WHEN 'smb' THEN CASE WHEN k[2] IS NOT NULL OR k[3] IS NOT NULL THEN 'smb_auth'
                         WHEN k[4] IS NOT NULL OR k[5] IS NOT NULL THEN 'smb' ELSE 'smb_other' END
    WHEN 'rdp' THEN CASE WHEN k[6] IS NOT NULL THEN 'rdp_auth' ELSE 'rdp' END
    ELSE k[1] END AS route
FROM (SELECT line, {extract} AS k FROM chunk)
"""
_KEYS = "['$.event_type', '$.smb.ntlmssp.user', '$.smb.kerberos', '$.smb.filename', '$.smb.share', '$.rdp.cookie']"


def compile_route(route: str) -> str:
    """SELECT over `seg(record, line)` for events of one route."""
    m = ROUTES.get(route) or LogMap(route, "generic", endpoints=_ENDS)
    acc = JsonAccess("nested")
    cols, _ = column_sql(m, acc)
    orig, resp = endpoint_sql(m, acc)
    stamp = epoch_time_sql(acc.text("timestamp"))
    time = (f"COALESCE({epoch_time_sql(acc.text(route + '.start'))}, {stamp})" if route in ("flow", "netflow")
            else stamp)
    channel = acc.text("event_type")
    provider = f"COALESCE({acc.text('host')}, 'suricata')"
    select = "".join(f"{expr} AS \"{col}\", " for col, expr in cols.items())
    return (f"WITH s AS ({acc.select_from('seg')}) "
            f"SELECT record, {time} AS time, {channel} AS channel, {provider} AS provider, "
            f"{select}{orig} AS __orig, {resp} AS __resp FROM s")


_ARRAY_HEAD = re.compile(rb'^\s*\[\s*\{')
_EVENT_TYPE = re.compile(rb'"event_type"\s*:\s*"')
_TIMESTAMP = re.compile(rb'"timestamp"\s*:')


class SuricataEve(Source):
    name = "suricata_eve"
    description = "Suricata EVE JSON (eve.json lines, or a JSON array of events): flow, alert, dns, http, tls, ..."
    priority = 25

    def sniff(self, head: bytes, name: str) -> bool:
        head = head.lstrip(b"\xef\xbb\xbf")
        if _ARRAY_HEAD.match(head):
            return bool(_EVENT_TYPE.search(head) and _TIMESTAMP.search(head))
        lines = first_lines(head, 3)
        if not lines:
            return False
        try:
            objs = [orjson.loads(ln) for ln in lines]
        except orjson.JSONDecodeError:
            return False
        return all(isinstance(o, dict) and isinstance(o.get("event_type"), str) and "timestamp" in o for o in objs)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        networks = AddressContext(parse_networks(ctx.settings.internal_networks))
        sqls: dict[str, str] = {}
        with DuckRun() as run:
            with ctx.open() as stream:
                is_array = bool(_ARRAY_HEAD.match(stream.read(4096).lstrip(b"\xef\xbb\xbf")))
            if is_array:
                chunks: Iterator[tuple[pa.Array, pa.Array, tuple[IngestWarning, ...]]] = _array_records(ctx)
            else:
                chunks = _line_records(ctx)
            for lines, numbers, warnings in chunks:
                yield from warnings
                yield from _run_chunk(run, sqls, lines, numbers, networks)


def _line_records(ctx: ReadContext) -> Iterator[tuple[pa.Array, pa.Array, tuple[IngestWarning, ...]]]:
    with ctx.open() as stream:
        for chunk in prefetch(iter_line_chunks(stream), depth=1):
            yield chunk.lines, chunk.line_numbers, chunk.warnings


def _array_records(ctx: ReadContext,
                   batch: int = 50_000) -> Iterator[tuple[pa.Array, pa.Array, tuple[IngestWarning, ...]]]:
    """Elements of a JSON array as text, numbered from 1. DuckDB streams a well-formed array; a broken
    one (truncated, garbled) is read element by element in Python up to the damage."""
    path = ctx.local_path()
    n = 0
    # a second connection streams the array while the first one maps the batches
    with DuckRun(threads=1) as reader_run:
        try:
            rel = reader_run.con.sql(f"SELECT json FROM read_json_objects({sql_str(path)}, format='array')")
            for rb in rel.to_arrow_reader(batch):
                col = rb.column(0).cast(pa.string())
                yield col, pa.array(range(n + 1, n + 1 + len(col)), pa.int64()), ()
                n += len(col)
            return
        except (duckdb.Error, UnicodeDecodeError, OSError, pa.ArrowException):  # the reader raises OSError
            if n:  # damage after elements already handed on: report it, do not read them twice
                damaged = IngestWarning("bad_json", f"JSON array damaged after element {n}; the rest is not read",
                                        n + 1)
                yield pa.array([], pa.string()), pa.array([], pa.int64()), (damaged,)
                return
    with open(path, "rb") as f:
        texts, warning = _salvage_array(f)
    for start in range(0, len(texts), batch):
        part = texts[start:start + batch]
        yield (pa.array(part, pa.string()), pa.array(range(start + 1, start + 1 + len(part)), pa.int64()),
               (warning,) if warning is not None and start + batch >= len(texts) else ())
    if not texts and warning is not None:
        yield pa.array([], pa.string()), pa.array([], pa.int64()), (warning,)


def _salvage_array(f: IO[bytes]) -> tuple[list[str], IngestWarning | None]:
    """Parse array elements one by one until the first damage; report where it stopped."""
    text = f.read().decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    out: list[str] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            return out, IngestWarning("truncated", f"JSON array not closed after {len(out)} element(s)", len(out) + 1)
        if text[pos] == "]":
            return out, None
        try:
            _obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            return out, IngestWarning("bad_json", f"array element {len(out) + 1}: {e.msg}; the rest of the file is "
                                      "not read: " + IngestWarning.excerpt(text[pos:pos + 160]), len(out) + 1)
        out.append(text[pos:end])
        pos = end


def _run_chunk(run: DuckRun, sqls: dict[str, str], lines: pa.Array, numbers: pa.Array,
               networks: AddressContext) -> Iterator[TableBatch | IngestWarning]:
    chunk = pa.table({"record": numbers, "line": lines})
    chunk = chunk.filter(pc.not_equal(pc.utf8_trim(lines, characters=BLANKS), ""))
    if not chunk.num_rows:
        return
    head = _classify(run, chunk)
    ok = pc.fill_null(head.column("ok"), False)
    if (pc.sum(ok).as_py() or 0) != chunk.num_rows:
        yield from bad_json_lines(chunk.filter(pc.invert(ok)))
        chunk, head = chunk.filter(ok), head.filter(ok)
    if not chunk.num_rows:
        return
    routes = pc.fill_null(head.column("route"), "unknown")
    distinct = pc.unique(routes).to_pylist()
    for route in distinct:
        part = chunk if len(distinct) == 1 else chunk.filter(pc.equal(routes, route))
        sql = sqls.get(route)
        if sql is None:
            sql = sqls[route] = compile_route(route)
        out = attach_raw(run.query(sql, seg=part), part)
        no_time = pc.invert(pc.fill_null(pc.is_valid(out.column("time")), False))
        missing = pc.sum(no_time).as_py() or 0
        if missing:
            first = out.column("record").filter(no_time)[0].as_py()
            yield IngestWarning("bad_time", f"{missing} event(s) without a readable timestamp", first)
        hosts = endpoint_hosts(out.column("__orig"), out.column("__resp"), networks)
        out = drop_columns(out, ("__orig", "__resp")).append_column("host", hosts)
        table = (ROUTES.get(route) or LogMap(route, "generic")).table
        yield TableBatch(table, out)


def _classify(run: DuckRun, chunk: pa.Table) -> pa.Table:
    try:
        return run.query(_CLASSIFY.format(ok="starts_with(ltrim(line), '{')", extract=f"json_extract_string(line, "
                                          f"{_KEYS})"), chunk=chunk)
    except (duckdb.Error, UnicodeDecodeError):
        # broken JSON somewhere in the chunk: validate line by line (nested CASE: no eager evaluation)
        ok = "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END"
        return run.query(_CLASSIFY.format(ok=ok, extract=f"CASE WHEN json_valid(line) THEN json_extract_string(line, "
                                          f"{_KEYS}) END"), chunk=chunk)
