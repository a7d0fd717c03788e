"""Syslog text: header parsing, year-less timestamps, and the line dispatcher Linux sources share.

Not a source itself. `auditd`, `sysmon_linux` and `authlog` read syslog-framed text (or bare
lines) through `read_lines`, which cuts the file with `sources.lines`, parses each line's
header once and offers the message to a list of `MessageHandler`s: an audit record goes to the
audit assembler, a Sysmon `<Event>` to the Sysmon mapping, anything else to the auth mapping or
the generic table. So a mixed `/var/log/syslog` (sshd, sudo, audispd, sysmon lines together) is
read correctly whichever source sniffed it.

Header forms understood (all optional; a line without a header is a bare message):
- RFC 3164 / BSD: `<pri>Oct 12 10:00:00 host prog[pid]: msg` (day space-padded or not,
  optional fractional seconds, optional year before the time);
- ISO timestamps (rsyslog `RSYSLOG_FileFormat`, journalctl `-o short-iso[-precise]`):
  `2021-10-12T10:00:00.123456+02:00 host prog[pid]: msg`;
- RFC 5424: `<pri>1 2021-10-12T10:00:00.003Z host app procid msgid [sd ...] msg`.

Per chunk of lines, each handler's `markers` (substrings its messages must hold) are looked for
at once with Arrow's `match_substring`: a line holding none goes straight to the fallback handler
without the `accepts` tests; a raw audit line (`type=` / `node=` first, which no header form can
start with) goes straight to the first handler's `handle_bare`. The header regexes stay in
Python: Arrow's RE2 `extract_regex` over a chunk was measured at twice the time of Python's `re`
on these lines (capture groups force RE2 off its fast path), and the match is a small part of a
line's cost.

Year-less (RFC 3164) timestamps: the year is `IngestSettings.default_year` when set, else the
year of the file's modification time, moved one year back when the first line's month is
later than the mtime's month (the log started last year). Going on, a month that falls back
by two or more (Dec -> Jan) starts the next year, as plaso does; a fall of one month is taken
as lines slightly out of order, not a new year. Times without an offset are local time in
`IngestSettings.local_timezone` (UTC by default).
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.model.hosts import host_key
from aptwatch.model.records import IngestWarning, RowBuffer, TableBatch
from aptwatch.sources.base import ReadContext, first_lines
from aptwatch.sources.lines import iter_line_chunks

#: (table, row) as handed to a RowBuffer
Row = tuple[str, dict[str, Any]]
#: what a handler yields: rows, ready batches (handlers with their own builder), warnings
Item = Row | TableBatch | IngestWarning

MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                      "dec"), start=1)}
_MONTHS_TITLE = {m.title(): i for m, i in MONTHS.items()}
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
              "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4",
              "local5", "local6", "local7")
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

# Linear-time patterns: no nested quantifiers, each part bounded by a literal or a class.
_BSD = re.compile(r"(?:<(\d{1,3})>)?([A-Za-z]{3}) {1,2}(\d{1,2}) (?:(\d{4}) )?(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                  r"(?: (\d{4}))? +(.*)")
# the common case in one match: 'Mon dd hh:mm:ss host prog[pid]: msg'
_BSD_FAST = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([^\s:\[]+) ([^\s\[\]:]{1,64})"
                       r"(?:\[(\d{1,20})\])?: (.*)")
_ISO = re.compile(r"(?:<(\d{1,3})>)?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?"
                  r" +(.*)")
_5424 = re.compile(r"<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ?(.*)")
_BARE_AUDIT = frozenset({"type=", "node="})
_TAG = re.compile(r"([^\s\[\]:]{1,64})(?:\[([^\]\s]{0,32})\])?:(?: |$)")


@dataclass
class SyslogLine:
    """One parsed line. `header` is False for bare lines (no syslog framing): message = the line."""

    message: str
    header: bool = False
    time: datetime | None = None
    hostname: str | None = None
    program: str | None = None
    pid: str | None = None
    facility: str | None = None
    severity: str | None = None
    #: RFC 5424 MSGID and structured data (`sd-id.param` -> value)
    extra: dict[str, str] = field(default_factory=dict)
    #: a header was recognised but its time could not be read
    bad_time: str | None = None
    #: host key of `hostname`, when the parser computed it (cached per file)
    known_host: str | None = field(default=None, repr=False)

    @property
    def host(self) -> str | None:
        return self.known_host if self.known_host is not None else host_key(self.hostname)

    def header_data(self) -> dict[str, Any]:
        """Header fields for `data` (what no column takes)."""
        out: dict[str, Any] = {}
        if self.facility is not None:
            out["facility"] = self.facility
            out["severity"] = self.severity
        out.update(self.extra)
        return out


def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def file_mtime(ctx: ReadContext) -> datetime | None:
    """Modification time of the file (of the archive, for members), or None."""
    try:
        return datetime.fromtimestamp(os.stat(ctx.ref.path).st_mtime, UTC)
    except OSError:
        return None


class YearResolver:
    """Years for year-less timestamps, with rollover (see the module doc)."""

    def __init__(self, default_year: int | None, mtime: datetime | None) -> None:
        self.fixed = default_year
        self.reference = mtime or datetime.now(UTC)
        self.year: int | None = default_year
        self.last_month = 0

    def year_for(self, month: int) -> int:
        if self.year is None:  # first line: the log cannot start after the file was last written
            self.year = self.reference.year - (1 if month > self.reference.month else 0)
        elif self.last_month and month <= self.last_month - 2:
            self.year += 1
        if month > self.last_month or month <= self.last_month - 2:
            self.last_month = month
        return self.year


class HeaderParser:
    """Parses syslog headers of one file (stateful: year resolution)."""

    def __init__(self, default_year: int | None = None, mtime: datetime | None = None,
                 local_timezone: str = "UTC") -> None:
        self.years = YearResolver(default_year, mtime)
        self.zone = _zone(local_timezone)
        # logs repeat timestamps and host names line after line: parse each once (bounded caches)
        self._times: dict[tuple[int, str], datetime] = {}
        self._hosts: dict[str, str | None] = {}

    @classmethod
    def for_context(cls, ctx: ReadContext) -> HeaderParser:
        s = ctx.settings
        return cls(s.default_year, None if s.default_year else file_mtime(ctx), s.local_timezone)

    def parse(self, text: str) -> SyslogLine:
        """Parse one line; a line with no recognisable header is returned as a bare message."""
        if text[:5] in _BARE_AUDIT:  # raw audit.log: no header form starts so (lower-case, no digit)
            return SyslogLine(text)
        m = _BSD_FAST.match(text)
        if m is not None and (month := _MONTHS_TITLE.get(m.group(1))) is not None:
            line = self._bsd_fast(m, month)  # the common form, without the dispatch of _parse
        else:
            line = self._parse(text)
        name = line.hostname
        if name is not None:
            key = self._hosts.get(name, "")
            if key == "":
                key = host_key(name)
                if len(self._hosts) > 4096:
                    self._hosts.clear()
                self._hosts[name] = key
            line.known_host = key
        return line

    def _parse(self, text: str) -> SyslogLine:
        m = _BSD_FAST.match(text)
        if m is not None and m.group(1) in _MONTHS_TITLE:
            return self._bsd_fast(m, _MONTHS_TITLE[m.group(1)])
        c = text[:1]
        if c == "<":
            m = _5424.match(text)
            if m and m.group(2) == "1":
                return self._rfc5424(m)
        if c.isdigit() or c == "<":
            m = _ISO.match(text)
            if m:
                return self._iso(m)
        if c.isalpha() or c == "<":
            m = _BSD.match(text)
            if m and m.group(2).lower() in MONTHS:
                return self._bsd(m)
        return SyslogLine(text)

    # ----------------------------------------------------------------------------------
    def _local(self, naive: datetime) -> datetime:
        if self.zone is UTC:
            return naive.replace(tzinfo=UTC)
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def _bsd_fast(self, m: re.Match[str], month: int) -> SyslogLine:
        _mon, day, hh, mm, ss, host, program, pid, message = m.groups()
        line = SyslogLine(message, True, hostname=host, program=program, pid=pid)
        years = self.years
        # year_for changes nothing for the month it saw last: skip the call for runs of one month
        year = years.year if month == years.last_month and years.year is not None else years.year_for(month)
        stamp = m.string[: m.end(5)]
        t = self._times.get((year, stamp))
        if t is None:
            try:
                t = self._local(datetime(year, month, int(day), int(hh), int(mm), int(ss)))
            except ValueError:
                line.bad_time = stamp
                return line
            if len(self._times) > 4096:
                self._times.clear()
            self._times[(year, stamp)] = t
        line.time = t
        return line

    def _bsd(self, m: re.Match[str]) -> SyslogLine:
        pri, mon, day, year1, hh, mm, ss, frac, year2, rest = m.groups()
        month = MONTHS[mon.lower()]
        year_text = year1 or year2
        line = _tagged(rest, pri)
        try:
            year = int(year_text) if year_text else self.years.year_for(month)
            stamp = m.group(0)[: m.start(10)]
            t = self._times.get((year, stamp))
            if t is None:
                micro = int((frac or "0")[:6].ljust(6, "0"))
                t = self._local(datetime(year, month, int(day), int(hh), int(mm), int(ss), micro))
                if len(self._times) > 4096:
                    self._times.clear()
                self._times[(year, stamp)] = t
            line.time = t
        except ValueError:
            line.bad_time = m.group(0)[: m.start(10)].strip()
        return line

    def _iso(self, m: re.Match[str]) -> SyslogLine:
        pri, stamp, frac, offset, rest = m.groups()
        line = _tagged(rest, pri)
        line.time, line.bad_time = self._iso_time(stamp, frac, offset)
        return line

    def _iso_time(self, stamp: str, frac: str | None, offset: str | None) -> tuple[datetime | None, str | None]:
        text = stamp + ("." + frac[:6] if frac else "") + (offset or "")
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            return None, text
        return (t.astimezone(UTC) if t.tzinfo else self._local(t)), None

    def _rfc5424(self, m: re.Match[str]) -> SyslogLine:
        pri, _version, stamp, host, app, procid, msgid, rest = m.groups()
        sd, msg = _structured_data(rest)
        line = SyslogLine(msg.removeprefix("\ufeff"), True, hostname=_nil(host), program=_nil(app), pid=_nil(procid))
        _set_pri(line, pri)
        if _nil(msgid):
            line.extra["msgid"] = msgid
        line.extra.update(sd)
        if stamp != "-":
            im = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?", stamp)
            if im:
                line.time, line.bad_time = self._iso_time(*im.groups())
            else:
                line.bad_time = stamp
        return line


def _nil(v: str) -> str | None:
    return None if v == "-" else v


def _set_pri(line: SyslogLine, pri: str | None) -> None:
    if pri is None:
        return
    n = int(pri)
    if n < 192:
        line.facility, line.severity = FACILITIES[n >> 3], SEVERITIES[n & 7]


def _tagged(rest: str, pri: str | None) -> SyslogLine:
    """`host prog[pid]: message` after a BSD / ISO timestamp."""
    host, _, after = rest.partition(" ")
    line = SyslogLine(after, True)
    if host.endswith(":") or "[" in host:  # no host name: the first token is the tag
        line.message, after = rest, rest
    else:
        line.hostname = host
    m = _TAG.match(after)
    if m:
        line.program, line.pid = m.group(1), m.group(2)
        line.message = after[m.end():]
    else:
        line.message = after
    _set_pri(line, pri)
    return line


def _structured_data(rest: str) -> tuple[dict[str, str], str]:
    """RFC 5424 STRUCTURED-DATA ('-' or '[id k="v" ...]...') and the message after it."""
    if not rest.startswith("["):
        return {}, rest[2:] if rest.startswith("- ") else ("" if rest == "-" else rest)
    out: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n and rest[i] == "[":
        j = i + 1
        while j < n and rest[j] not in " ]":
            j += 1
        sd_id = rest[i + 1 : j]
        while j < n and rest[j] == " ":
            k = rest.find('="', j)
            if k < 0:
                return out, rest[j:]
            name = rest[j + 1 : k]
            v, j = [], k + 2
            while j < n and rest[j] != '"':  # values escape '"', '\\' and ']' with a backslash
                if rest[j] == "\\" and j + 1 < n:
                    j += 1
                v.append(rest[j])
                j += 1
            out[f"{sd_id}.{name}"] = "".join(v)
            j += 1
        if j >= n or rest[j] != "]":
            return out, rest[j:]
        i = j + 1
    return out, rest[i + 1 :] if rest[i : i + 1] == " " else rest[i:]


# --------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------
class MessageHandler(ABC):
    """One kind of message inside syslog framing (audit record, Sysmon XML, auth text, ...)."""

    #: substrings every message this handler accepts contains (None: no such hint); lines holding
    #: none of the handlers' markers skip the `accepts` tests (checked for a whole chunk at once)
    markers: tuple[str, ...] | None = None

    @abstractmethod
    def accepts(self, line: SyslogLine) -> bool:
        """Cheap content test: does this handler read this message?"""

    @abstractmethod
    def handle(self, line: SyslogLine, record: int, raw: str) -> Iterable[Item]:
        """Rows (possibly none yet, for multi-line events) and warnings for one line."""

    def handle_bare(self, text: str, record: int) -> Iterable[Item] | None:
        """For a line starting `type=` or `node=` (no syslog header can): the items, when this
        handler accepts it, else None. Called only on the first handler, which takes precedence."""
        return None

    def finish(self) -> Iterable[Item]:
        """Rows still pending at the end of the file."""
        return ()


class GenericHandler(MessageHandler):
    """Any line -> `generic`, the header fields and message in `data`."""

    def accepts(self, line: SyslogLine) -> bool:
        return True

    def handle(self, line: SyslogLine, record: int, raw: str) -> Iterable[Item]:
        row = generic_row(line, record, raw)
        if line.bad_time:
            return [row, IngestWarning("bad_time", f"unreadable timestamp {line.bad_time!r}", record)]
        if not line.header:
            return [row, IngestWarning("no_header", "no syslog header; stored with no time: "
                                       + IngestWarning.excerpt(raw), record)]
        return [row]


def generic_row(line: SyslogLine, record: int, raw: str, data: dict[str, Any] | None = None) -> Row:
    """A generic-table row for a syslog line; `data` adds parsed fields."""
    d: dict[str, Any] = {}
    if line.program is not None:
        d["program"] = line.program
    if line.pid is not None:
        d["pid"] = line.pid
    d.update(line.header_data())
    d["message"] = line.message
    if data:
        d.update(data)
    return "generic", base_row(line, record, raw, d)


def base_row(line: SyslogLine, record: int, raw: str, data: dict[str, Any] | None) -> dict[str, Any]:
    """Common columns of a row from a syslog line."""
    return {"time": line.time, "record": record, "host": line.host, "channel": line.program,
            "provider": line.program, "data": dumps(data) if data else None, "raw": raw}


def read_lines(ctx: ReadContext, handlers: Sequence[MessageHandler],
               fallback: MessageHandler | None = None) -> Iterator[TableBatch | IngestWarning]:
    """Read a text file line by line through the handlers (first that accepts wins)."""
    headers = HeaderParser.for_context(ctx)
    last = fallback or GenericHandler()
    buf = RowBuffer(ctx.settings.batch_rows)
    add = buf.add
    bare = handlers[0].handle_bare if handlers else None
    with ctx.open() as stream:
        for chunk in iter_line_chunks(stream):
            yield from chunk.warnings
            first = chunk.first_line
            maybe = _may_accept(chunk.lines, handlers)
            parse = headers.parse
            for i, text in enumerate(chunk.lines.to_pylist()):
                if not text or text.isspace():
                    continue
                items = bare(text, first + i) if bare is not None and text[:5] in _BARE_AUDIT else None
                if items is None:
                    line = parse(text)
                    handler = next((h for h in handlers if h.accepts(line)), last) if maybe[i] else last
                    items = handler.handle(line, first + i, text)
                for item in items:
                    if item.__class__ is tuple:
                        batch = add(item[0], item[1])
                        if batch is not None:
                            yield batch
                    else:
                        yield item  # type: ignore[misc]
    for h in (*handlers, last):
        yield from collect(h.finish(), buf)
    yield from buf.flush()


def _may_accept(lines: pa.Array, handlers: Sequence[MessageHandler]) -> Sequence[bool]:
    """Per line: could any handler accept it (does the line hold all markers of one of them)?"""
    if any(h.markers is None for h in handlers):
        return [True] * len(lines)
    mask: pa.Array | None = None
    for h in handlers:
        hit: pa.Array | None = None
        for m in h.markers or ():
            found = pc.match_substring(lines, m)
            hit = found if hit is None else pc.and_(hit, found)
        if hit is not None:
            mask = hit if mask is None else pc.or_(mask, hit)
    if mask is None:
        return [False] * len(lines)
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def collect(items: Iterable[Item], buf: RowBuffer) -> Iterator[TableBatch | IngestWarning]:
    """Rows into the buffer (yielding full batches); batches and warnings through."""
    for item in items:
        if isinstance(item, tuple):
            batch = buf.add(item[0], item[1])
            if batch is not None:
                yield batch
        else:
            yield item


def only_lines_of(head: bytes, is_ours: Callable[[str], bool], n: int = 8) -> bool:
    """Sniff helper: the head's first lines are all ours, except at most one unreadable line (a
    cut first line). A line that is readable syslog of something else means a mixed file, which
    is `authlog`'s: it hands each line to the right parser."""
    lines = [ln.decode("utf-8", "replace") for ln in first_lines(head, n)]
    if not lines:
        return False
    others = [ln for ln in lines if not is_ours(ln)]
    return len(others) == 0 or (len(others) == 1 and len(lines) > 1 and not HeaderParser(2000).parse(others[0]).header)


def to_int(value: object, bits: int = 64) -> int | None:
    """A decimal string (or int) as an int that fits a signed column of `bits` bits, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and 0 < len(value) <= 20 and value.lstrip("-").isdigit() and value.isascii():
        n = int(value)
    else:
        return None
    limit = 1 << (bits - 1)
    return n if -limit <= n < limit else None


def dumps(data: dict[str, Any]) -> str:
    """`data` column JSON (values JSON cannot hold become strings: integers beyond 64 bits, unknown types)."""
    try:
        return orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        try:
            return orjson.dumps(_big_ints_as_text(data), default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except (TypeError, RecursionError):  # absurdly nested: keep the text (raw has the record anyway)
            return orjson.dumps({"unserialisable": str(data)[:10_000]}).decode()


def _big_ints_as_text(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _big_ints_as_text(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_big_ints_as_text(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool) and not -(1 << 63) <= v < (1 << 64):
        return str(v)
    return v


def later(a: datetime | None, b: datetime | None, seconds: float) -> bool:
    """True when both times are known and b is more than `seconds` after a."""
    return a is not None and b is not None and b - a > timedelta(seconds=seconds)
