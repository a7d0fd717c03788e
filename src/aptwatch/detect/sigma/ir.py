"""The intermediate form of a compiled Sigma condition: a small boolean tree over field tests.

The pySigma backend (`backend.py`) turns a rule's parsed condition into this tree; `sql.py`
renders it to DuckDB SQL for one event table (fields are bound per table, because a
`service` rule spans tables with different columns). Keeping an explicit tree, rather than
SQL text, is what lets the engine share work between rules: it knows which fields every
rule reads (one projection per table), and it can pull out each rule's *anchors* — values a
field must equal for the rule to match — to find candidate (event, rule) pairs with one hash
join instead of testing every rule on every event.

Semantics (docs/detections.md, section Sigma):
- `Str` matches case-insensitively unless `cased`; only `ANY` (`*`) and `ONE` (`?`) parts are
  wildcards, every other character is literal;
- a test on a field the event does not have is false, and `Not` of it is true;
- `Re` is RE2, searched (not anchored), case-sensitive unless its flags say `i`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Union


class Wild(Enum):
    """Sigma wildcards inside a string pattern."""

    ANY = "*"
    ONE = "?"


Part = str | Wild


@dataclass(frozen=True)
class Str:
    """Field (or, with `field` None, any field: a keyword) matches a wildcard pattern."""

    field: str | None
    parts: tuple[Part, ...]
    cased: bool = False


@dataclass(frozen=True)
class Num:
    """Field equals a number."""

    field: str
    value: int | float


@dataclass(frozen=True)
class Bool:
    """Field equals a boolean (`true` / `false` as text, or a BOOLEAN column)."""

    field: str
    value: bool


@dataclass(frozen=True)
class Re:
    """Field (or any field when None) contains a match of an RE2 pattern; flags from i, m, s."""

    field: str | None
    pattern: str
    flags: str = ""


@dataclass(frozen=True)
class Cmp:
    """Numeric comparison: op is one of < <= > >= !=."""

    field: str
    op: str
    value: int | float


@dataclass(frozen=True)
class Null:
    """Field is absent, null or empty."""

    field: str


@dataclass(frozen=True)
class Exists:
    """Field is present (not null)."""

    field: str


@dataclass(frozen=True)
class FieldRef:
    """Field compared with another field of the same event: eq, prefix, suffix or contains."""

    field: str
    other: str
    mode: str = "eq"
    cased: bool = False


@dataclass(frozen=True)
class TimePart:
    """A part (minute, hour, day, week, month, year) of a timestamp field equals a number."""

    field: str
    part: str
    value: int


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class And:
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    arg: Node


Leaf = Union[Str, Num, Bool, Re, Cmp, Null, Exists, FieldRef, TimePart, Const]  # noqa: UP007 - forward refs
Node = Union[Leaf, And, Or, Not]  # noqa: UP007 - forward refs

TRUE = Const(True)
FALSE = Const(False)


def and_(args: list[Node]) -> Node:
    """AND with flattening and constant folding."""
    out: list[Node] = []
    for a in args:
        if isinstance(a, Const):
            if not a.value:
                return FALSE
            continue
        out.extend(a.args if isinstance(a, And) else (a,))
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else And(tuple(out))


def or_(args: list[Node]) -> Node:
    """OR with flattening and constant folding."""
    out: list[Node] = []
    for a in args:
        if isinstance(a, Const):
            if a.value:
                return TRUE
            continue
        out.extend(a.args if isinstance(a, Or) else (a,))
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else Or(tuple(out))


def not_(arg: Node) -> Node:
    if isinstance(arg, Const):
        return Const(not arg.value)
    if isinstance(arg, Not):
        return arg.arg
    return Not(arg)


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, depth first."""
    yield node
    if isinstance(node, And | Or):
        for a in node.args:
            yield from walk(a)
    elif isinstance(node, Not):
        yield from walk(node.arg)


def fields(node: Node) -> list[str]:
    """Field names the tree reads, in first-use order (keywords excluded)."""
    seen: dict[str, None] = {}
    for n in walk(node):
        f = getattr(n, "field", None)
        if f is not None:
            seen.setdefault(f, None)
        if isinstance(n, FieldRef):
            seen.setdefault(n.other, None)
    return list(seen)


def has_keywords(node: Node) -> bool:
    return any(isinstance(n, Str | Re) and n.field is None for n in walk(node))


def literal(parts: tuple[Part, ...]) -> str | None:
    """The pattern's text when it has no wildcard, else None."""
    if all(isinstance(p, str) for p in parts):
        return "".join(p for p in parts if isinstance(p, str))
    return None


# --------------------------------------------------------------------------------------
# Anchors: a necessary condition of the form "one of these (field, kind, value) keys holds".
# kind "eq": the field equals value, ignoring case; kind "base": the file name part of the
# field (after the last \ or /) equals value, ignoring case (values are lower-cased in SQL).
# A rule can only match an event that has one of its anchor keys, so candidates come from one
# hash join of event keys with rule keys.
# --------------------------------------------------------------------------------------
Anchor = tuple[str, str, str]
#: an anchor set bigger than this is not worth joining on (the rule is tested on every event)
MAX_ANCHORS = 512


#: fields whose values few events do not share (routing conditions): useless as anchors
WEAK = frozenset({"Channel", "@action", "@event_code", "@channel", "Provider_Name"})


def anchors(node: Node) -> frozenset[Anchor] | None:
    """A set of selective keys one of which every matching event has, or None when there is none."""
    found = _anchors(node)
    if found and all(f in WEAK for f, _, _ in found):
        return None  # every event of the category has it: testing the rule on all events is cheaper
    return found


def _anchors(node: Node) -> frozenset[Anchor] | None:
    if isinstance(node, Str):
        return _str_anchor(node)
    if isinstance(node, Num):
        v = node.value
        text = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
        return frozenset({(node.field, "eq", text)})
    if isinstance(node, Or):
        out: set[Anchor] = set()
        for a in node.args:
            sub = _anchors(a)
            if sub is None:
                return None
            out |= sub
            if len(out) > MAX_ANCHORS:
                return None
        return frozenset(out)
    if isinstance(node, And):
        best: frozenset[Anchor] | None = None
        for a in node.args:
            sub = _anchors(a)
            if sub is not None and (best is None or _better(sub, best)):
                best = sub
        return best
    if isinstance(node, Const) and not node.value:
        return frozenset()
    return None


def _better(a: frozenset[Anchor], b: frozenset[Anchor]) -> bool:
    """Prefer anchors on fields other than event codes / channels (more selective), then fewer keys."""
    def rank(s: frozenset[Anchor]) -> tuple[int, int]:
        return (sum(1 for f, _, _ in s if f in WEAK or f == "EventID"), len(s))

    return rank(a) < rank(b)


def _str_anchor(node: Str) -> frozenset[Anchor] | None:
    if node.field is None:
        return None
    parts = node.parts
    lit = literal(parts)
    if lit is not None:
        return frozenset({(node.field, "eq", lit)})
    # "*\name.exe": the file name is fixed, whatever the directory.
    if (len(parts) == 2 and parts[0] is Wild.ANY and isinstance(parts[1], str)):
        text = parts[1]
        cut = max(text.rfind("\\"), text.rfind("/"))
        if 0 <= cut < len(text) - 1:
            return frozenset({(node.field, "base", text[cut + 1:])})
    return None
