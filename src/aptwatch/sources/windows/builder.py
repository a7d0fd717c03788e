"""Windows events in, columnar batches out: the one place the mapping is applied.

Every Windows source brings a record into the same canonical shape and calls
`WinBatchBuilder.add(record, time, computer, channel, provider, event_id, fields, raw)`:
- `fields` is a flat dict of the event's EventData / UserData fields under their Windows
  names (plus a few System values under stable names, see `SYSTEM_EXTRAS`); the builder
  consumes it (fields taken by columns are popped, the rest becomes `data`);
- `time` is the event's own time as text (ISO 8601; naive text is read in the local time
  zone given to the builder);
- `raw` is the complete original record as text.

Why this shape is fast: adding a record is one dict lookup (its (provider, channel, EventID)
-> the group of its EventMap, resolved once) and one list append. At flush, each event table
is finished once: a list comprehension per column cuts the mapped fields out of the rows
(`pop`, so what is left is `data`), and everything else — type conversion, time parsing,
host keys, hashes, file names, GUID spelling, derived columns — runs vectorised in Arrow;
per-value Python only runs for the values Arrow cannot convert.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.model.hosts import host_keys
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.model.schema import Table, event_table
from aptwatch.sources.windows.mapping import OUTCOME_FROM_STATUS, EventMap, index

#: System values kept in `data` (under these names) because they say something the event
#: fields do not: who logged it (UserID), which process wrote it (e.g. the PowerShell that
#: ran a script block), its record number and activity. Every source spells them this way.
SYSTEM_EXTRAS = ("EventRecordID", "ExecutionProcessID", "UserID", "ActivityID")

MAX_BATCH_ROWS = 20_000
_GUID_COLUMNS = ("process_guid", "parent_process_guid", "source_process_guid", "target_process_guid", "logon_guid")
_BARE_GUID = r"^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$"
_HASH_PATTERNS = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "imphash": "IMPHASH"}
_HASH_LEN = {"md5": 32, "sha1": 40, "sha256": 64, "imphash": 32}
_CONTEXT_KEYS = {"host_application": "Host Application", "user": "User", "engine_version": "Engine Version"}
_UPPER_GUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")  # fixed length: linear
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch of events is read or finished.

    A batch keeps ~20k parsed events (dicts of strings) alive, and reading or finishing it allocates
    hundreds of thousands of objects: each allocation threshold crossed makes the collector traverse
    every live event again (a quarter of the time) although they hold no reference cycles. Never hold
    it across a `yield`: other code runs then, and GC state is process-wide.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def text(value: Any) -> str | None:
    """A value as Windows would render it in XML text (the format-neutral spelling)."""
    if value is None or isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _plain(value: Any) -> Any:
    """Value for `data`: text for scalars, lists of text for lists (Windows <Data> arrays)."""
    if isinstance(value, list):
        return ["" if v is None else text(v) for v in value]
    return text(value)


def guid_text(value: str) -> str:
    """A GUID as Windows writes it in EventData ('{lower-case}'); evtx writes GUID-typed values
    upper-case without braces. Other text is returned as is."""
    if len(value) == 36 and _UPPER_GUID.fullmatch(value):
        return "{" + value.lower() + "}"
    return value


def _data_json(f: dict[str, Any]) -> bytes:
    """`data` (UTF-8 JSON) of the leftover fields: every value as Windows would render it (see `text`)."""
    for k, v in f.items():
        if v.__class__ is not str:
            break
        if len(v) == 36 and v[8] == "-":  # a value replaced in place, the dict's size unchanged
            f[k] = guid_text(v)
    else:
        # Only text (the common case): GUID spelling was the one rewrite left. (A regex over the JSON
        # instead costs ~2x the serialisation.)
        return orjson.dumps(f)
    for k, v in f.items():  # again from the start: guid_text leaves a rewritten '{guid}' as it is
        c = v.__class__
        if c is str:
            if len(v) == 36 and v[8] == "-":
                f[k] = guid_text(v)
        elif c is int:
            f[k] = str(v)
        elif v is None:
            f[k] = ""  # Windows renders a null (NullType) value as an empty element, like an empty string
        else:
            f[k] = _plain(v)
    return orjson.dumps(f)


def data_column(fields: list[dict[str, Any]]) -> pa.Array:
    """The `data` column: each row's leftover fields as flat JSON text (NULL when none are left).
    (A vectorised RE2 rewrite of numbers in the serialised text was tried: slower than this loop.)"""
    return pa.array([_data_json(f) if f else None for f in fields], pa.binary()).cast(pa.string())


def parse_int(value: Any) -> int | None:
    """An integer from an int, a decimal string or a 0x-hex string (Windows writes PIDs both ways)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        s = value.strip()
        try:
            if s[:2] in ("0x", "0X"):
                return int(s[2:], 16)
            return int(s, 10)
        except ValueError:
            return None
    return None


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        s = value.strip().lower()
        if s in ("true", "1", "yes"):
            return True
        if s in ("false", "0", "no"):
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def parse_time_text(value: Any, local: tzinfo) -> datetime | None:
    """Slow path for times Arrow cannot cast: 'YYYY-MM-DD[T ]HH:MM:SS[.f...][Z|+hh:mm| UTC]'."""
    if not isinstance(value, str):
        return None
    s = value.strip()
    tz: tzinfo
    if s.endswith(" UTC"):
        s = s[:-4] + "Z"
    if s.endswith(("Z", "z")):
        s, tz = s[:-1], UTC
    elif len(s) > 6 and s[-6] in "+-" and s[-3] == ":":
        sign = 1 if s[-6] == "+" else -1
        try:
            tz = timezone(sign * timedelta(hours=int(s[-5:-3]), minutes=int(s[-2:])))
        except ValueError:
            return None
        s = s[:-6]
    else:
        tz = local
    if "." in s:  # Windows writes 7 fraction digits (100 ns); datetime takes 6
        head, _, frac = s.partition(".")
        s = head + "." + (frac + "000000")[:6] if frac.isdigit() else s
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt


def split_kv_lines(texts: list[str]) -> dict[str, str]:
    """`Key=Value` lines of classic PowerShell details (HostApplication=..., EngineVersion=...)."""
    out: dict[str, str] = {}
    for t in texts:
        for line in t.split("\n"):
            key, sep, value = line.strip(" \t\r").partition("=")
            if sep and key.isalnum() and key not in out:
                out[key] = value
    return out


class _Group:
    """Rows of one EventMap (or of `generic`); columns are cut out of them at flush time."""

    def __init__(self, table: Table, em: EventMap | None) -> None:
        self.table = table
        self.em = em
        self.pairs: tuple[tuple[str, str], ...] = tuple(em.fields.items()) if em else ()
        #: (record, time, computer, channel, provider, event_id, fields, raw)
        self.rows: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self.rows)


def _ps_classic(fields: dict[str, Any]) -> None:
    """Classic PowerShell (400/403/600/800): positional <Data> items -> `Data` text + key=value fields."""
    items = fields.pop("Data", None)
    if items is None:  # winlogbeat / NXLog spell positional items param1..paramN
        params = []
        n = 1
        while f"param{n}" in fields:
            params.append(fields.pop(f"param{n}"))
            n += 1
        items = params or fields.pop("Message", None)
    if items is None:
        return
    texts = [t for t in (text(i) for i in (items if isinstance(items, list) else [items])) if t is not None]
    for key, value in split_kv_lines(texts).items():
        fields.setdefault(key, value)
    fields["Data"] = "\n".join(texts)


class WinBatchBuilder:
    """Accumulates canonical Windows events; `flush()` yields TableBatches and warnings.

    Args:
        local_timezone: zone for times written without an offset (NXLog EventTime, some exports).
        batch_rows: rows after which `full` turns true (the caller then flushes).
    """

    def __init__(self, local_timezone: str = "UTC", batch_rows: int = 50_000) -> None:
        try:
            self.local: tzinfo = ZoneInfo(local_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.local = UTC
        # a Windows event held as Python objects until its batch is finished costs ~4 KB: 20k rows keep a
        # worker near 100 MB whatever the input size (the lake buffers row groups itself)
        self.batch_rows = min(batch_rows, MAX_BATCH_ROWS)
        self._index = index()
        self._by_map: dict[int, _Group] = {}
        self._cache: dict[tuple[Any, Any, Any], _Group] = {}
        self._generic_table = event_table("generic")
        self.rows = 0

    @property
    def full(self) -> bool:
        return self.rows >= self.batch_rows

    def mapping_for(self, provider: Any, channel: Any, event_id: Any) -> EventMap | None:
        """The EventMap of an event (provider first, then a channel only one provider writes)."""
        if not isinstance(event_id, int):
            return None
        if isinstance(provider, str):
            em = self._index.get((provider.lower(), event_id))
            if em is not None:
                return em
        if isinstance(channel, str):
            return self._index.get(("channel:" + channel.lower(), event_id))
        return None

    def _group(self, key: tuple[Any, Any, Any]) -> _Group:
        em = self.mapping_for(*key)
        gid = id(em)
        g = self._by_map.get(gid)
        if g is None:
            g = _Group(event_table(em.table) if em is not None else self._generic_table, em)
            self._by_map[gid] = g
        self._cache[key] = g
        return g

    def add(self, record: int, time: Any, computer: Any, channel: Any, provider: Any, event_id: int | None,
            fields: dict[str, Any], raw: str) -> None:
        """Add one event. `fields` is consumed (mapped fields are popped from it)."""
        key = (provider, channel, event_id)
        g = self._cache.get(key)
        if g is None:
            g = self._group(key)
        g.rows.append((record, time, computer, channel, provider, event_id, fields, raw))
        self.rows += 1

    def finish(self) -> list[TableBatch | IngestWarning]:
        """`flush`, computed with the cyclic GC paused (see `gc_paused`); call it between yields."""
        with gc_paused():
            return list(self.flush())

    def flush(self) -> Iterator[TableBatch | IngestWarning]:
        """Everything added so far, as one TableBatch per table (plus warnings)."""
        per_table: dict[str, list[_Group]] = {}
        for g in self._by_map.values():
            if len(g):
                per_table.setdefault(g.table.name, []).append(g)
        self._by_map = {}
        self._cache = {}
        self.rows = 0
        warnings: list[IngestWarning] = []
        parts = [_columns(groups) for groups in per_table.values()]
        # Element-wise steps run once over the values of every table of the batch, not once per table:
        # an Arrow compute call costs 2-60 us whatever its length (a regex is compiled per call), and a
        # batch of a mixed log holds ~30 tables (docs/benchmarks.md, "Windows ingest speed").
        self._times_all(parts, warnings)
        for p, hosts in zip(parts, _fused([_string_array(p.computers) for p in parts], host_keys), strict=True):
            p.cols["host"] = hosts
        _derive_all(parts)
        batches = [TableBatch(p.table.name, p.arrow()) for p in parts]
        yield from warnings
        yield from batches

    def _times_all(self, parts: list[_Part], warnings: list[IngestWarning]) -> None:
        """`time` of every part: one Arrow cast over all of them; when a value fails it, each part is
        read on its own as before (so a bad time costs only its own table the slow path)."""
        try:
            values = pa.array([v for p in parts for v in p.times], pa.string())
            arr = values.cast(pa.timestamp("ns", tz="UTC")).cast(pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            for p in parts:
                p.cols["time"] = self._times(p.times, p.records, warnings)
            return
        for p, part in zip(parts, _split(arr, [len(p.records) for p in parts]), strict=True):
            p.cols["time"] = part

    def _times(self, values: list[Any], records: list[int], warnings: list[IngestWarning]) -> pa.Array:
        try:
            arr = pa.array(values, pa.string()).cast(pa.timestamp("ns", tz="UTC"))
            return arr.cast(pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
        out: list[datetime | None] = []
        for v, rec in zip(values, records, strict=True):
            dt = parse_time_text(v, self.local)
            if dt is None:
                warnings.append(IngestWarning("bad_time", "no readable event time: " + IngestWarning.excerpt(
                    text(v) or "(missing)"), rec))
            out.append(dt)
        return pa.array(out, pa.timestamp("us", tz="UTC"))


class _Part:
    """One event table of a batch while it is finished: its columns so far, and what later steps need."""

    def __init__(self, table: Table, records: list[int], times: list[Any], computers: list[Any],
                 fields: list[dict[str, Any]], raws: list[str]) -> None:
        self.table = table
        self.records = records
        self.times = times
        self.computers = computers
        self.fields = fields
        self.raws = raws
        self.cols: dict[str, pa.Array] = {}
        self.masks: dict[str, pa.Array] = {}

    def arrow(self) -> pa.Table:
        cols = self.cols
        # bytes straight into Arrow: orjson writes valid UTF-8, so the cast only checks it once, vectorised
        cols["data"] = data_column(self.fields)
        cols["raw"] = pa.array(self.raws, pa.string())
        names = [c for c in self.table.column_names if c in cols]
        return pa.table([cols[c] for c in names], names=names)


def _columns(groups: list[_Group]) -> _Part:
    """The columns of one event table that do not need the other tables of the batch (see `flush`):
    mapped fields cut out of the rows, typed, constants and the masks of per-event derivations."""
    t = groups[0].table
    rows = [r for g in groups for r in g.rows]
    n = len(rows)
    records, times, computers, channels, providers, codes, fl, raws = (list(c) for c in zip(*rows, strict=True))
    p = _Part(t, records, times, computers, fl, raws)
    cols = p.cols
    cols["record"] = pa.array(records, pa.int64())
    cols["channel"] = _string_array(channels)
    cols["provider"] = _string_array(providers)
    cols["event_code"], failed = _typed(codes, pa.int32())
    for i in failed:
        fl[i].setdefault("EventID", codes[i])
    # per-group segments of every column the groups fill, in row order
    values: dict[str, list[Any]] = {}
    sources: dict[str, list[str | None]] = {}  # the field each value came from (for failures)
    masks: dict[str, list[bool]] = {}  # rows a per-event derivation applies to
    offset = 0
    for g in groups:
        em = g.em
        k = len(g)
        seg = fl[offset : offset + k]
        if em is not None:
            if em.special == "ps_classic":
                for f in seg:
                    _ps_classic(f)
            if em.action_by is not None:
                field_name, amap = em.action_by
                _put(values, "action", offset, n, [amap.get(text(f.get(field_name)) or "", em.action)
                                                     for f in seg])
            elif em.action is not None:
                _put(values, "action", offset, n, [em.action] * k)
            for column, source in g.pairs:
                _put(values, column, offset, n, [f.pop(source, None) for f in seg])
                _put(sources, column, offset, n, [source] * k)
            for column, value in em.const.items():
                if value == OUTCOME_FROM_STATUS:
                    _put(masks, "outcome_from_status", offset, n, [True] * k)
                else:
                    _put(values, column, offset, n, [value] * k)
            if em.special == "ps_context":
                _put(masks, "ps_context", offset, n, [True] * k)
            if t.name == "account" and em.action == "member_added":
                _put(masks, "member", offset, n, [True] * k)
        offset += k
    for column, vals in values.items():
        arr, failed = _typed(vals, t.column(column).arrow_type)
        for i in failed:  # a value the column type cannot hold stays in `data`, as logged
            src = sources.get(column, [None] * n)[i]
            if src is not None:
                fl[i].setdefault(src, vals[i])
        cols[column] = arr
    p.masks = {name: pa.array(m, pa.bool_()) for name, m in masks.items()}
    return p


def _split(arr: pa.Array, lengths: list[int]) -> list[pa.Array]:
    out = []
    offset = 0
    for n in lengths:
        out.append(arr.slice(offset, n))
        offset += n
    return out


def _fused(arrays: list[pa.Array], fn: Any) -> list[pa.Array]:
    """fn (an element-wise Arrow function) over several arrays at the cost of one call."""
    if len(arrays) <= 1:
        return [fn(a) for a in arrays]
    return _split(fn(pa.concat_arrays(arrays)), [len(a) for a in arrays])


def _put(store: dict[str, list[Any]], column: str, offset: int, n: int, segment: list[Any]) -> None:
    """Write a group's segment of a column at its rows (the column starts as n NULLs / False)."""
    col = store.get(column)
    if col is None:
        col = store[column] = [False if column in _MASKS else None] * n
    col[offset : offset + len(segment)] = segment


_MASKS = ("outcome_from_status", "ps_context", "member")


def _string_array(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([text(v) for v in values], pa.string())


def _typed(values: list[Any], typ: pa.DataType) -> tuple[pa.Array, list[int]]:
    """Arrow array of the column type; indices of values that could not be converted (-> NULL)."""
    try:
        return pa.array(values, typ), []
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    if pa.types.is_string(typ):
        return pa.array([text(v) for v in values], typ), []
    failed: list[int] = []
    out: list[Any] = []
    if pa.types.is_integer(typ):
        lo, hi = _INT32 if typ == pa.int32() else _INT64
        for i, v in enumerate(values):
            x = parse_int(v)
            if x is not None and not lo <= x <= hi:
                x = None
            if x is None and v is not None:
                failed.append(i)
            out.append(x)
    elif pa.types.is_boolean(typ):
        for i, v in enumerate(values):
            b = parse_bool(v)
            if b is None and v is not None:
                failed.append(i)
            out.append(b)
    else:  # pragma: no cover - no Windows column has another type
        raise TypeError(f"no conversion to {typ}")
    return pa.array(out, typ), failed


def _s(value: str) -> pa.Scalar:
    """A typed string scalar: pyarrow infers untyped Python values slowly (~80 us a call)."""
    return pa.scalar(value, pa.string())


def _basename(arr: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(arr, pattern=r"^.*[\\/]", replacement="")


def _hash_of(name: str) -> Any:
    label = _HASH_PATTERNS[name]
    pattern = rf"(?i)(?:^|,)\s*{label}=(?P<h>[0-9a-f]{{{_HASH_LEN[name]}}})(?:,|$)"
    return lambda arr: pc.utf8_lower(pc.struct_field(pc.extract_regex(arr, pattern=pattern), [0]))


def _derive_all(parts: list[_Part]) -> None:
    """Columns computed from other columns, vectorised (see mapping.DERIVED): the element-wise ones
    once over every table of the batch (`_fused`), the per-event ones per table (`_derive`)."""
    guids = [(p, name) for p in parts for name in _GUID_COLUMNS if name in p.cols]
    for (p, name), arr in zip(guids, _fused([p.cols[name] for p, name in guids], _canonical_guid), strict=True):
        p.cols[name] = arr
    names = [(p, "process_name", "process_path") for p in parts if "process_path" in p.cols
             and p.table.has("process_name")]
    names += [(p, "file_name", "path") for p in parts if "path" in p.cols and p.table.has("file_name")]
    for (p, name, _src), arr in zip(names, _fused([p.cols[src] for p, _n, src in names], _basename), strict=True):
        p.cols[name] = arr
    hashed = [p for p in parts if "hashes" in p.cols and p.table.has("md5")]
    for name in _HASH_PATTERNS:
        for p, arr in zip(hashed, _fused([p.cols["hashes"] for p in hashed], _hash_of(name)), strict=True):
            p.cols[name] = arr
    for p in parts:
        _derive(p.table, p.cols, p.masks)


def _derive(t: Table, cols: dict[str, pa.Array], masks: dict[str, pa.Array]) -> None:
    """The per-table derivations: `masks` marks the rows of events that ask for one (outcome from
    Status, 4103 ContextInfo, group membership)."""
    if t.name == "auth" and "auth_package" in cols:
        derived = pc.utf8_lower(cols["auth_package"])
        cols["protocol"] = pc.coalesce(cols["protocol"], derived) if "protocol" in cols else derived
    mask = masks.get("outcome_from_status")
    if mask is not None and "status" in cols:
        status = pc.utf8_lower(cols["status"])
        ok = pc.is_in(status, pa.array(["0x0", "0", "0x00000000"]))
        failure = pc.if_else(pc.is_null(status), pa.scalar(None, pa.string()), _s("failure"))
        derived = pc.if_else(ok, _s("success"), failure)
        cols["outcome"] = pc.if_else(mask, derived, cols["outcome"]) if "outcome" in cols else pc.if_else(
            mask, derived, pa.scalar(None, pa.string()))
    mask = masks.get("member")
    if mask is not None and "target_user" in cols:
        cols["group_name"] = pc.if_else(mask, cols["target_user"], pa.scalar(None, pa.string()))
    mask = masks.get("ps_context")
    if mask is not None and "context_info" in cols:
        for name, label in _CONTEXT_KEYS.items():
            pattern = rf"(?m)^\s*{re.escape(label)} = (?P<v>[^\r\n]*)"
            value = pc.struct_field(pc.extract_regex(cols["context_info"], pattern=pattern), [0])
            value = pc.if_else(pc.equal(value, _s("")), pa.scalar(None, pa.string()), value)
            cols[name] = pc.if_else(mask, value, cols[name]) if name in cols else pc.if_else(
                mask, value, pa.scalar(None, pa.string()))


def _canonical_guid(arr: pa.Array) -> pa.Array:
    """Sysmon GUIDs as Windows renders them: '{lower-case}'. evtx writes them upper-case without
    braces; exports differ too. One spelling lets Sysmon GUIDs join across sources."""
    is_guid = pc.fill_null(pc.match_substring_regex(arr, _BARE_GUID), False)
    bare = pc.utf8_lower(pc.utf8_trim(arr, characters="{}"))
    braced = pc.binary_join_element_wise(_s("{"), bare, _s("}"), _s(""))
    return pc.if_else(is_guid, braced, arr)
