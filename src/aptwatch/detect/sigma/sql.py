"""Render the condition tree (`ir.py`) as DuckDB SQL over one event table.

Fields are bound per table: a column whose Sigma aliases list the field (schema.py), else a
column of that name, else `data ->> field` (the flat JSON of fields no column took; for the
generic JSON-lines table, where `data` is NULL, the raw object itself). `@name` names a
schema column directly (used by the pipeline's routing conditions).

Every field is read in up to three forms, each computed once per event by the projection of
`Projection` and shared by all rules of a batch: `raw` (text as logged), `low` (lower-cased
text, what case-insensitive matching compares) and `typed` (the column itself, for numeric
comparison). Sigma semantics in SQL:

- case-insensitive: `low` against the lower-cased literal; `|cased` compares `raw`;
- wildcards: only `*` / `?` parts become `%` / `_`; literal `%`, `_` and `\\` are escaped;
  plain prefix / suffix / infix patterns use starts_with / ends_with / contains;
- a test on a missing field is NULL; every NOT folds NULL to false first
  (`NOT coalesce(x, false)`), so NOT over a missing field is true, as Sigma means;
- regular expressions are RE2 (`regexp_matches`, searched), flags as `(?ims)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aptwatch.detect.sigma import ir
from aptwatch.model.schema import COMMON_NAMES, Table, sigma_fields
from aptwatch.store.duckdb import sql_str

Form = Literal["raw", "low", "typed"]
NUMERIC = {"BIGINT", "INTEGER", "DOUBLE", "BOOLEAN"}
#: columns never searched by keywords (metadata of the store, not of the event)
KEYWORD_SKIP = {"event_id", "source", "ingest_id", "table_name", "format", "raw", "data", "host"}
KEYWORD = "\x00keyword"
SEP = "chr(10)"


@dataclass(frozen=True)
class Bound:
    """Where a field lives in a table: a column, or a key of the JSON in `data`."""

    field: str
    column: str | None
    type: str = "VARCHAR"
    key: str | None = None
    #: the column is the alias of several source fields
    shared: bool = False

    @property
    def numeric(self) -> bool:
        return self.column is not None and self.type in NUMERIC


#: Sigma names of Windows `System` elements no column or `data` key holds (the EVTX parsers keep only the
#: System values aptwatch maps; the rest stay in `raw`), with their paths in the evtx crate's JSON rendering
SYSTEM_FIELDS: dict[str, tuple[str, ...]] = {
    "Level": ("$.Event.System.Level",), "Keywords": ("$.Event.System.Keywords",),
    "Task": ("$.Event.System.Task",), "Opcode": ("$.Event.System.Opcode",), "Version": ("$.Event.System.Version",),
    "Execution_ProcessID": ('$.Event.System.Execution."#attributes".ProcessID',),
    "Execution_ThreadID": ('$.Event.System.Execution."#attributes".ThreadID',),
    "Correlation_ActivityID": ('$.Event.System.Correlation."#attributes".ActivityID',),
    "Correlation_RelatedActivityID": ('$.Event.System.Correlation."#attributes".RelatedActivityID',),
    "Provider_Guid": ('$.Event.System.Provider."#attributes".Guid',),
    "Security_UserID": ('$.Event.System.Security."#attributes".UserID',),
}
#: formats whose `raw` is the evtx crate's JSON rendering of the event
EVTX_JSON_FORMATS = ("evtx", "evtx_json")

#: a JSON key with a space in it (`"Threat Name":`); only keys are followed by a colon
_SPACED_KEY = '"[^"\\\\]* [^"\\\\]*":'


def _strip_key_spaces(src: str) -> str:
    """`src` with spaces removed from its JSON keys (Sigma names event fields without their spaces:
    Defender's `Threat Name` is `ThreatName`). Three passes: keys with up to three spaces."""
    out = src
    for _ in range(3):
        out = f"""regexp_replace({out}, '"([^" \\\\]*) ([^"\\\\]*)":', '"\\1\\2":', 'g')"""
    return f"(CASE WHEN regexp_matches({src}, '{_SPACED_KEY}') THEN {out} ELSE {src} END)"


def json_source(table: Table, spaced: bool = False) -> str:
    """The JSON text unmapped fields are read from: `data`, or `raw` for schema-less JSON lines;
    with `spaced` False, keys with spaces are read without them (Sigma's field naming)."""
    src = "(CASE WHEN data IS NULL AND format = 'jsonl' THEN raw ELSE data END)" if table.name == "generic" else "data"
    return src if spaced else _strip_key_spaces(src)


def json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bind(table: Table, name: str) -> Bound:
    """Bind a Sigma field name (or `@column`) to a table."""
    if name.startswith("@"):
        col = name[1:]
        if not table.has(col):
            return Bound(name, None, key=None)  # no such column here: always NULL
        return Bound(name, col, table.column(col).type)
    col_name = sigma_fields(table).get(name)
    if col_name is None and table.has(name) and name not in ("data", "raw"):
        col_name = name
    if col_name is None and name == "Computer":  # System/Computer: the host, as aptwatch keys it
        col_name = "host"
    if col_name is not None:
        column = table.column(col_name)
        return Bound(name, col_name, column.type, shared=len(column.sigma) > 1 and name in column.sigma)
    return Bound(name, None, key=name)


@dataclass
class Projection:
    """The per-event field forms a set of rules needs on one table, computed once per event."""

    table: Table
    inline: bool = False
    _aliases: dict[tuple[str, str], str] = field(default_factory=dict)
    _json_keys: dict[str, int] = field(default_factory=dict)
    _spaced_keys: dict[str, int] = field(default_factory=dict)
    _exprs: dict[str, str] = field(default_factory=dict)

    def ref(self, name: str | None, form: Form) -> str:
        """SQL naming the form of a field (None: the keyword text of the whole event)."""
        fname = KEYWORD if name is None else name
        key = (fname, form)
        if key in self._aliases:
            return self._aliases[key]
        expr = self._expr(fname, form)
        if self.inline:
            self._aliases[key] = expr
            return expr
        alias = f"f{len(self._aliases)}"
        self._aliases[key] = alias
        self._exprs[alias] = expr
        return alias

    def bound(self, name: str) -> Bound:
        return bind(self.table, name)

    def _expr(self, name: str, form: Form) -> str:
        if name == KEYWORD:
            raw = self._keyword_text()
            return f"lower({raw})" if form == "low" else raw
        b = bind(self.table, name)
        if b.column is None and b.key is None:
            return "CAST(NULL AS VARCHAR)"
        if b.column is not None:
            col = f'"{b.column}"'
            if form == "typed":
                return col
            raw = col if b.type in ("VARCHAR", "JSON") else f"CAST({col} AS VARCHAR)"
            if b.type == "VARCHAR[]":
                raw = f"array_to_string({col}, {SEP})"
            if b.shared and not name.startswith("@") and self.table.has("data"):
                # the column takes several source fields (AccessMask / AccessList): when the event
                # has this one as its own field, the column holds the other, so `data` wins
                raw = f"coalesce({self._json(name)}, {raw})"
            return f"lower({raw})" if form == "low" and b.type not in NUMERIC - {"BOOLEAN"} else raw
        assert b.key is not None
        raw = self._json(b.key)
        if b.key in SYSTEM_FIELDS and self.table.has("raw") and self.table.has("format"):
            # a System element: not in `data`, read from the raw record (the issue's "no rule silently
            # fails on an unmapped field"); only rules naming one pay for parsing `raw`
            fmts = ", ".join(sql_str(f) for f in EVTX_JSON_FORMATS)
            paths = ", ".join(f"json_extract_string(raw, {sql_str(p)})" for p in SYSTEM_FIELDS[b.key])
            raw = f"coalesce({raw}, CASE WHEN format IN ({fmts}) THEN coalesce({paths}, NULL) END)"
        return f"lower({raw})" if form == "low" else raw

    def _json(self, key: str) -> str:
        if self.inline:
            return f"json_extract_string({json_source(self.table, ' ' in key)}, {sql_str(json_path(key))})"
        if " " in key:  # a field named with its spaces: read from the JSON as written
            idx = self._spaced_keys.setdefault(key, len(self._spaced_keys) + 1)
            return f"__js[{idx}]"
        idx = self._json_keys.setdefault(key, len(self._json_keys) + 1)
        return f"__j[{idx}]"

    def _keyword_text(self) -> str:
        cols = [c for c in self.table.columns if c.name not in KEYWORD_SKIP and c.type in ("VARCHAR", "JSON")]
        parts = [f'"{c.name}"' for c in cols if c.name not in COMMON_NAMES or c.name in ("channel", "provider")]
        parts.append(f"array_to_string(try(json_extract_string({json_source(self.table, True)}, '$.*')), {SEP})")
        return f"concat_ws({SEP}, {', '.join(parts)})"

    # -- the projection itself ---------------------------------------------------------------
    def json_select(self) -> str | None:
        """`json_extract_string(src, [paths])`: all unmapped fields parsed in one pass, or None."""
        out = []
        if self._json_keys:
            paths = ", ".join(sql_str(json_path(k)) for k in self._json_keys)
            out.append(f"json_extract_string({json_source(self.table)}, [{paths}]) AS __j")
        if self._spaced_keys:
            paths = ", ".join(sql_str(json_path(k)) for k in self._spaced_keys)
            out.append(f"json_extract_string({json_source(self.table, True)}, [{paths}]) AS __js")
        return ", ".join(out) or None

    def select_list(self) -> list[str]:
        return [f"{expr} AS {alias}" for alias, expr in self._exprs.items()]

    def aliases(self) -> list[str]:
        """Names of the projected field forms (the columns `select_list` makes)."""
        return list(self._exprs)


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def case_stable(s: str) -> bool:
    """True when Python lower-cases `s` as DuckDB does: ASCII, or characters without case (emoji)."""
    return s.isascii() or all(c.isascii() or c.lower() == c == c.upper() for c in s)


def lit(s: str, lower: bool) -> str:
    """A SQL literal; lower-cased the way DuckDB does (Python's lower differs for some letters)."""
    if lower:
        return sql_str(s.lower()) if case_stable(s) else f"lower({sql_str(s)})"
    return sql_str(s)


def _like(parts: tuple[ir.Part, ...], lower: bool) -> tuple[str, bool]:
    out: list[str] = []
    escaped = False
    for p in parts:
        if p is ir.Wild.ANY:
            out.append("%")
        elif p is ir.Wild.ONE:
            out.append("_")
        else:
            assert isinstance(p, str)
            text = p.lower() if lower and case_stable(p) else p
            if any(c in text for c in "%_\\"):
                escaped = True
                text = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            out.append(text)
    pattern = sql_str("".join(out))
    if lower and not all((isinstance(p, str) and p.isascii()) or not isinstance(p, str) for p in parts):
        pattern = f"lower({pattern})"
    return pattern, escaped


def render_str(target: str, parts: tuple[ir.Part, ...], lower: bool) -> str:
    """Match `target` (already lower-cased when `lower`) against a wildcard pattern."""
    if not parts:
        return f"({target} = '')"
    texts = [p for p in parts if isinstance(p, str)]
    wild = [p for p in parts if not isinstance(p, str)]
    if not wild:
        return f"({target} = {lit(''.join(texts), lower)})"
    if all(p is ir.Wild.ANY for p in wild) and len(texts) <= 1:
        if not texts:
            return f"({target} IS NOT NULL)"
        t = lit(texts[0], lower)
        if len(parts) == 3 and parts[0] is ir.Wild.ANY and parts[2] is ir.Wild.ANY:
            return f"contains({target}, {t})"
        if len(parts) == 2 and parts[1] is ir.Wild.ANY:
            return f"starts_with({target}, {t})"
        if len(parts) == 2 and parts[0] is ir.Wild.ANY:
            return f"ends_with({target}, {t})"
    pattern, escaped = _like(parts, lower)
    return f"({target} LIKE {pattern}" + (" ESCAPE '\\')" if escaped else ")")


#: OR-ed affix patterns on one field from which one regular expression is built instead
MIN_ALTERNATION = 3


def _re_escape(text: str) -> str:
    # RE2: a backslash before punctuation makes it literal; other characters stand for themselves
    return "".join(c if c.isalnum() or c == "_" or not c.isascii() else "\\" + c for c in text)


def _affix_regex(parts: tuple[ir.Part, ...], lower: bool) -> str | None:
    """RE2 for *lit*, lit*, *lit (the literal lower-cased when `lower`), or None for other shapes."""
    if not parts or any(p is ir.Wild.ONE for p in parts):
        return None
    texts = [p for p in parts if isinstance(p, str)]
    if len(texts) != 1 or not texts[0] or not case_stable(texts[0]) or not texts[0].isprintable():
        return None
    body = _re_escape(texts[0].lower() if lower else texts[0])
    shape = tuple(p is ir.Wild.ANY for p in parts)
    return {(True, False, True): body, (False, True): "^" + body, (True, False): body + "$"}.get(shape)


def _num_text(v: int | float) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def render(node: ir.Node, proj: Projection) -> str:
    """SQL boolean expression for the tree over one table (NULL means false)."""
    r = _Renderer(proj)
    return r.node(node)


class _Renderer:
    def __init__(self, proj: Projection) -> None:
        self.p = proj

    def node(self, n: ir.Node) -> str:
        if isinstance(n, ir.And):
            return "(" + " AND ".join(self.node(a) for a in n.args) + ")"
        if isinstance(n, ir.Or):
            return self.or_(n)
        if isinstance(n, ir.Not):
            return f"(NOT coalesce({self.node(n.arg)}, false))"
        if isinstance(n, ir.Const):
            return "true" if n.value else "false"
        return self.leaf(n)

    def or_(self, n: ir.Or) -> str:
        # Many literal alternatives on one field: one IN list (a hash probe, not N comparisons),
        # and many contains / startswith / endswith literals: one RE2 alternation (a single
        # linear scan of the value for all of them, and one expression to plan instead of N).
        eq: dict[tuple[str, bool], list[str]] = {}
        pats: dict[tuple[str | None, bool], list[str]] = {}
        rest: list[str] = []
        for a in n.args:
            if isinstance(a, ir.Str) and a.field is not None and (text := ir.literal(a.parts)) is not None and text:
                eq.setdefault((a.field, a.cased), []).append(text)
            elif isinstance(a, ir.Str) and (rx := _affix_regex(a.parts, not a.cased)) is not None:
                pats.setdefault((a.field, a.cased), []).append(rx)
            else:
                rest.append(self.node(a))
        for (fname, cased), alts in pats.items():
            target = self.p.ref(fname, "raw" if cased else "low")
            if len(alts) < MIN_ALTERNATION:
                rest.extend(self.node(a) for a in n.args if isinstance(a, ir.Str) and a.field == fname
                            and a.cased == cased and _affix_regex(a.parts, not cased) is not None)
            else:
                rest.append(f"regexp_matches({target}, {sql_str('(?:' + '|'.join(dict.fromkeys(alts)) + ')')})")
        for (fname, cased), values in eq.items():
            target = self.p.ref(fname, "raw" if cased else "low")
            if len(values) == 1:
                rest.append(f"({target} = {lit(values[0], not cased)})")
            else:
                vals = ", ".join(lit(v, not cased) for v in dict.fromkeys(values))
                rest.append(f"({target} IN ({vals}))")
        return "(" + " OR ".join(rest) + ")"

    def leaf(self, n: ir.Node) -> str:
        p = self.p
        if isinstance(n, ir.Str):
            return render_str(p.ref(n.field, "raw" if n.cased else "low"), n.parts, not n.cased)
        if isinstance(n, ir.Re):
            flags = f"(?{n.flags})" if n.flags else ""
            return f"regexp_matches({p.ref(n.field, 'raw')}, {sql_str(flags + n.pattern)})"
        if isinstance(n, ir.Num):
            if p.bound(n.field).numeric and p.bound(n.field).type != "BOOLEAN":
                return f"({p.ref(n.field, 'typed')} = {_num_text(n.value)})"
            return f"({p.ref(n.field, 'low')} = {sql_str(_num_text(n.value))})"
        if isinstance(n, ir.Bool):
            if p.bound(n.field).type == "BOOLEAN" and p.bound(n.field).column:
                return f"({p.ref(n.field, 'typed')} = {'true' if n.value else 'false'})"
            return f"({p.ref(n.field, 'low')} = {sql_str('true' if n.value else 'false')})"
        if isinstance(n, ir.Cmp):
            op = "<>" if n.op == "!=" else n.op
            b = p.bound(n.field)
            left = (p.ref(n.field, "typed") if b.numeric and b.type != "BOOLEAN"
                    else f"TRY_CAST({p.ref(n.field, 'raw')} AS DOUBLE)")
            return f"({left} {op} {_num_text(n.value)})"
        if isinstance(n, ir.Null):
            b = p.bound(n.field)
            if b.numeric:
                return f"({p.ref(n.field, 'typed')} IS NULL)"
            raw = p.ref(n.field, "raw")
            return f"({raw} IS NULL OR {raw} = '')"
        if isinstance(n, ir.Exists):
            return f"({p.ref(n.field, 'raw')} IS NOT NULL)"
        if isinstance(n, ir.FieldRef):
            form: Form = "raw" if n.cased else "low"
            a, b2 = p.ref(n.field, form), p.ref(n.other, form)
            return {"eq": f"({a} = {b2})", "prefix": f"starts_with({a}, {b2})",
                    "suffix": f"ends_with({a}, {b2})", "contains": f"contains({a}, {b2})"}[n.mode]
        if isinstance(n, ir.TimePart):
            b = p.bound(n.field)
            ts = (p.ref(n.field, "typed") if b.type == "TIMESTAMP"
                  else f"TRY_CAST({p.ref(n.field, 'raw')} AS TIMESTAMPTZ)")
            part = {"week": "week", "minute": "minute", "hour": "hour", "day": "day", "month": "month",
                    "year": "year"}[n.part]
            return f"(date_part('{part}', {ts}) = {int(n.value)})"
        raise TypeError(f"unknown condition node {n!r}")  # pragma: no cover


def rule_sql(node: ir.Node, table: Table) -> str:
    """A standalone SELECT of the events of `table` matching one rule (for `rules check --sql`)."""
    proj = Projection(table, inline=True)
    cond = render(node, proj)
    return f'SELECT * FROM "{table.name}" WHERE coalesce({cond}, false)'
