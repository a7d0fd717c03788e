"""Routine remote administration, as correlation sees it: actors whose actions make and glue no campaign.

`lateral` learns who administers what, from where (detect/analytics/routine.py, state table `baselines`,
keys `admin.day|<method>|<source>|<account>|<day>` and `admin.dst|<method>|<source>|<account>|<dst>`), and
stops *reporting* its own findings of a routine actor. Other detectors keep reporting the same actions —
the packaged Sigma rule "Executable Written To An Administrative Share From Another Host" fires on every
administrator's PsExec for a month — and correlation glued them to whatever else shared the
administrator's account (`credential_use`) or workstation address (`edge`).

Correlation reads the same baseline and applies the same criteria, at the finding's time (no
hindsight: only days before the finding's UTC day count), to the finding's *actor*: its source address
and account (a lateral finding's `extra.remote`; otherwise its first source address and user entity).
The actor is a routine administrator when, over the remote-administration methods of that source and
account together (PsExec, WinRM, service installs, admin-share writes; not `new_edge:*`, which are
connections, not administration), it acted on >= `days` distinct earlier days, at >= `destinations`
destinations, first >= `age` before, and reaches no more destinations that day than `burst` times its
busiest earlier day. A finding of a routine administrator is *routine* in correlation: it starts no
campaign, joins none by proximity, and its account, source address and edges are no keys — only an
artifact of the intrusion's own (the same process or session, an external indicator, a hash) brings
it in. A finding whose account or source differs (stolen administrator credentials used from another
workstation) is not routine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import orjson

from aptwatch.detect.analytics.routine import routine_reason

#: the methods of connections rather than administration (first-seen edges of every user): an account
#: that only *connects* to servers every day is no administrator, and must not excuse its PsExec
CONNECTION_METHODS = ("lateral.new_edge",)


@dataclass
class AdminActor:
    """An actor's history: destinations per UTC day, and each destination's first time."""

    days: dict[date, set[str]] = field(default_factory=dict)
    first: dict[str, datetime] = field(default_factory=dict)

    def routine(self, t: datetime, days: int, destinations: int, age: timedelta, burst: float) -> bool:
        """Whether an action at `t` is routine by what was known before t's UTC day (routine.py's rule)."""
        return routine_reason(self.days, list(self.first.values()), t, days, destinations, age, burst) is not None


def load_actors(con: duckdb.DuckDBPyConnection, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], AdminActor]:
    """The administration history of the (source, account) actors wanted, from lateral's baseline (all its
    administration methods together). Empty when there is no baseline (lateral never ran)."""
    pairs = sorted(set(wanted))
    if not pairs:
        return {}
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'baselines'").fetchall()
    if not exists or not exists[0][0]:
        return {}
    import pyarrow as pa

    con.register("want_actors", pa.table({"src": [p[0] for p in pairs], "account": [p[1] for p in pairs]}))
    try:
        rows = con.execute("""
            SELECT split_part(b.key, '|', 1), split_part(b.key, '|', 2), w.src, w.account, split_part(b.key, '|', 5),
                   b.first_seen, b.value
            FROM baselines b JOIN want_actors w
              ON split_part(b.key, '|', 3) = w.src AND split_part(b.key, '|', 4) = w.account
            WHERE b.analytic = 'lateral' AND starts_with(b.key, 'admin.')
        """).fetchall()
    finally:
        con.unregister("want_actors")
    out: dict[tuple[str, str], AdminActor] = {}
    for kind, method, src, account, last, first_seen, value in rows:
        if method.startswith(CONNECTION_METHODS):
            continue
        actor = out.setdefault((src, account), AdminActor())
        if kind == "admin.day":
            try:
                day = date.fromisoformat(last)
            except ValueError:
                continue
            actor.days.setdefault(day, set()).update(orjson.loads(value or "[]"))
        elif kind == "admin.dst" and first_seen is not None:
            t = first_seen if first_seen.tzinfo else first_seen.replace(tzinfo=UTC)
            old = actor.first.get(last)
            actor.first[last] = t if old is None or t < old else old
    return {a: v for a, v in out.items() if v.days and v.first}
