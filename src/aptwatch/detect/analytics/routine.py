"""Routine remote administration: a learned baseline of who administers what, from where (used by `lateral`).

Administrators run PsExec, WinRM, RDP and services against many machines, day after day, from the same
few workstations and management servers with the same few accounts. Every one of those actions is, taken
alone, exactly what lateral movement looks like, and reporting all of them buries the intrusion under
the estate's own operations (and lets correlation glue the intrusion to the administrators' work).

The unit of routine is the *actor*: (method, source, account), where the method is the lateral rule and
what it saw (`lateral.remote_exec_session:WinRM`, `lateral.service_install:PsExec-like+after`,
`lateral.remote_pipe:svcctl`, `lateral.new_edge:rdp`, ...), the source the address or workstation the
action came from and the account the network logon that carried it. Every lateral finding that names
an actor is an observation of it, including first-seen edges inside the learning period (not reported
there, but learned from). A finding is *routine* — not reported, counted in the run notes — when, before
the UTC day of the finding, its actor

- was observed on at least `routine_days` distinct days (default 3) and
- reached at least `routine_destinations` distinct destinations (default 3), and
- was first observed at least `routine_age_days` before (default 7: a week of repeated behaviour;
  an intruder who moves from a foothold keeps being reported for a week however regular it is), and
- reaches no more destinations that day than `routine_burst` times its busiest earlier day (default 2,
  and at least `routine_destinations`): an administrator's account suddenly fanning out is reported.

A routine source doing anything new is reported: another method (WMI where it always used PsExec, a
service with a random-named image where it always installed PSEXESVC), another account (stolen
credentials used from the administrator's workstation), or a burst. Findings without an actor (a
process started by services.exe without a linked network logon, a Sysmon pipe event with no source
address, pass-the-hash and ticket rules) are never routine. `--set lateral.routine_days=0` reports
everything.

State: rows of `baselines` (analytic `lateral`) keyed
`admin.day|<method>|<source>|<account>|<YYYY-MM-DD>` (value: the day's destinations, JSON, capped)
and `admin.dst|<method>|<source>|<account>|<destination>` (first / last seen, count), folded in the
same transaction as the other lateral baselines, so the result is the same whether thirty days arrive
in one ingest or in thirty. Source and destination are host keys (`model.hosts.host_key`: FQDN and
short name are one host); state written before that normalisation (FQDN sources spelled out) is
relearned once under the new keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.detect.analytics.common import BASELINE_SCHEMA, Options, load_baselines
from aptwatch.detect.base import DetectContext
from aptwatch.model.finding import Finding, parse_time
from aptwatch.model.hosts import host_key

ANALYTIC = "lateral"
#: destinations kept per actor and day in the state (the count beyond it is capped, not needed)
DAY_DESTINATIONS_CAP = 64


def remote_actor(src: str | None, account: str | None, dst: str | None, method: str) -> dict[str, Any]:
    """`extra["remote"]` of a lateral finding: who did it from where, to which host, how.

    Empty when the source or the destination is unknown (such findings are never routine)."""
    s = actor_host(src)
    d = actor_host(dst)
    if not s or not d or s in ("::1", "127.0.0.1"):
        return {}
    return {"remote": {"method": method.replace("|", "/"), "src": s, "account": actor_account(account), "dst": d}}


def actor_host(value: str | None) -> str:
    """A source or destination as the baseline keys it: the host key (model.hosts), so one workstation
    is one actor whether a log writes its FQDN, short name or IPv4-mapped IPv6 address; placeholders
    ('-', 'localhost') are empty. '|' separates the parts of a state key. Correlation keys its view of
    the baseline (correlate/admin.py) with the same function."""
    return (host_key(value) or "").replace("|", "/")


def actor_account(value: str | None) -> str:
    """An account as the baseline keys it: lower case, without its domain (DOMAIN\\user and user@domain
    are the user: logons carry the domain in a field of their own)."""
    v = (value or "").strip().lower().replace("|", "/")
    if "\\" in v:
        v = v.rsplit("\\", 1)[1]
    if "@" in v:
        v = v.split("@", 1)[0]
    return v


@dataclass
class _Actor:
    """What the baseline knows about one actor: destinations per day, and each destination's first time."""

    days: dict[date, set[str]] = field(default_factory=dict)
    dsts: dict[str, list[Any]] = field(default_factory=dict)  # dst -> [first, last, count]
    new_days: set[date] = field(default_factory=set)
    new_dsts: set[str] = field(default_factory=set)

    def observe(self, dst: str, t: datetime) -> None:
        day = t.astimezone(UTC).date()
        got = self.days.setdefault(day, set())
        if dst not in got and len(got) < DAY_DESTINATIONS_CAP:
            got.add(dst)
        self.new_days.add(day)
        cur = self.dsts.get(dst)
        if cur is None:
            self.dsts[dst] = [t, t, 1]
        else:
            cur[0], cur[1], cur[2] = min(cur[0], t), max(cur[1], t), cur[2] + 1
        self.new_dsts.add(dst)

    def routine(self, t: datetime, days: int, dsts: int, age: timedelta, burst: float) -> dict[str, Any] | None:
        """Why the actor's action at `t` is routine (counts as known before t's day), or None."""
        return routine_reason(self.days, [v[0] for v in self.dsts.values()], t, days, dsts, age, burst)


def routine_reason(days_seen: dict[date, set[str]], first_seen: Sequence[datetime], t: datetime, days: int,
                   dsts: int, age: timedelta, burst: float) -> dict[str, Any] | None:
    """The routine rule (module docstring) for an actor's action at `t`, from its destinations per UTC day
    and each destination's first time; only what was known before t's UTC day counts. Why it is routine,
    or None. Correlation applies the same rule to its view of the baseline (correlate/admin.py)."""
    day = t.astimezone(UTC).date()
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    before = [d for d in days_seen if d < day]
    reached = sum(1 for f in first_seen if f < day_start)
    if len(before) < days or reached < dsts:
        return None
    first = min(first_seen)
    if first > t - age:
        return None
    busiest = max(len(days_seen[d]) for d in before)
    today = len(days_seen.get(day, ()))
    if today > max(burst * busiest, dsts):
        return None
    return {"days": len(before), "destinations": reached, "since": first.isoformat(),
            "busiest_day": busiest, "today": today}


def routine_administration(ctx: DetectContext, findings: Sequence[Finding], observed: Sequence[dict[str, Any]],
                           opts: Options, rebuild: bool
                           ) -> tuple[list[Finding], list[tuple[str, Any]], dict[str, pa.Table], str | None]:
    """Fold the actors of `findings` (and of the learning-period `observed` edges) into the baseline and
    drop the findings whose actor is routine.

    Returns the findings to report, the state statements and relations to write, and a run note."""
    days = int(opts.get("routine_days", 3))
    dsts = int(opts.get("routine_destinations", 3))
    age = timedelta(days=float(opts.get("routine_age_days", 7)))
    burst = float(opts.get("routine_burst", 2.0))
    obs: list[tuple[tuple[str, str, str], str, datetime, int]] = []
    for i, f in enumerate(findings):
        r = f.extra.get("remote")
        if r and f.time is not None:
            obs.append(((r["method"], r["src"], r["account"]), r["dst"], f.time, i))
    for r in observed:
        t = parse_time(r.get("time"))
        if t is not None:
            obs.append(((r["method"], r["src"], r["account"]), r["dst"], t, -1))
    if not obs:
        return list(findings), [], {}, None
    actors = _load(ctx, {a for a, _, _, _ in obs}, rebuild)
    for a, dst, t, _ in obs:
        actors[a].observe(dst, t)
    drop: dict[int, dict[str, Any]] = {}
    if days > 0:
        for a, _, t, i in obs:
            if i >= 0 and (why := actors[a].routine(t, days, dsts, age, burst)) is not None:
                drop[i] = why
    kept = [f for i, f in enumerate(findings) if i not in drop]
    table = _state(actors)
    stmts: list[tuple[str, Any]] = [
        ("INSERT OR REPLACE INTO baselines SELECT analytic, key, first_seen, last_seen, count, hosts, value "
         "FROM aw_lateral_routine", None)] if table.num_rows else []
    note = None
    if drop:
        quiet = {(findings[i].extra["remote"]["method"], findings[i].extra["remote"]["src"],
                  findings[i].extra["remote"]["account"]) for i in drop}
        note = (f"{len(drop)} finding(s) of routine remote administration not reported ({len(quiet)} "
                "method / source / account actor(s) seen on >= "
                f"{days} days, >= {dsts} destinations, for >= {age.days} days); "
                "--set lateral.routine_days=0 reports them")
    return kept, stmts, {"aw_lateral_routine": table} if table.num_rows else {}, note


def _load(ctx: DetectContext, wanted: set[tuple[str, str, str]], rebuild: bool) -> dict[tuple[str, str, str], _Actor]:
    actors: dict[tuple[str, str, str], _Actor] = {a: _Actor() for a in wanted}
    if rebuild:
        return actors
    old = load_baselines(ctx.writer, ANALYTIC, "admin.")
    for row in old.to_pylist():
        parts = row["key"].split("|")
        if len(parts) != 5:
            continue
        actor = (parts[1], parts[2], parts[3])
        st = actors.get(actor)
        if st is None:
            continue  # only the actors of this run's findings matter
        if parts[0] == "admin.day":
            try:
                day = date.fromisoformat(parts[4])
            except ValueError:
                continue
            st.days[day] = set(orjson.loads(row["value"] or "[]"))
        elif parts[0] == "admin.dst":
            st.dsts[parts[4]] = [parse_time(row["first_seen"]), parse_time(row["last_seen"]), int(row["count"] or 0)]
    return actors


def _state(actors: dict[tuple[str, str, str], _Actor]) -> pa.Table:
    """Baseline rows of the days and destinations this run touched (merged with what was loaded)."""
    cols: dict[str, list[Any]] = {n: [] for n in BASELINE_SCHEMA.names}

    def add(key: str, first: datetime, last: datetime, count: int, hosts: int | None, value: str | None) -> None:
        for n, v in zip(BASELINE_SCHEMA.names, (ANALYTIC, key, first, last, count, hosts, value), strict=True):
            cols[n].append(v)

    for (method, src, account), st in actors.items():
        stem = f"{method}|{src}|{account}"
        for day in sorted(st.new_days):
            got = sorted(st.days[day])
            ts = datetime(day.year, day.month, day.day, tzinfo=UTC)
            add(f"admin.day|{stem}|{day.isoformat()}", ts, ts, len(got), len(got), orjson.dumps(got).decode())
        for dst in sorted(st.new_dsts):
            first, last, count = st.dsts[dst]
            add(f"admin.dst|{stem}|{dst}", first, last, count, None, None)
    return pa.table(cols, schema=BASELINE_SCHEMA)
