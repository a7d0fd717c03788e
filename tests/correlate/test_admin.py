"""Routine remote administration in correlation: findings of an actor that `lateral`'s baseline knows as a
routine administrator make and glue no campaign; the same action by another source or account does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from aptwatch.correlate import correlate
from aptwatch.correlate.admin import AdminActor, load_actors
from aptwatch.model.finding import Finding
from aptwatch.store import Store
from aptwatch.store import correlation as cs
from tests.correlate.helpers import T0, days, finding, hours, minutes

SRC, ADMIN = "10.0.0.20", "adm-x"


def baseline(st: Store, method: str = "lateral.remote_session", src: str = SRC, account: str = ADMIN,
             on_days: range = range(0, 10, 2)) -> None:
    """lateral's routine-administration rows: the actor administers srv01..srv04, one or two a day."""
    rows = []
    for d in on_days:
        day = (T0 + days(d)).date()
        dsts = [f"srv0{1 + d % 4}", f"srv0{1 + (d + 1) % 4}"]
        ts = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows.append((f"admin.day|{method}|{src}|{account}|{day.isoformat()}", ts, ts, len(dsts), len(dsts),
                     orjson.dumps(dsts).decode()))
    for i in range(4):
        first = T0 + days(on_days[0]) + hours(i)
        rows.append((f"admin.dst|{method}|{src}|{account}|srv0{i + 1}", first, first, 3, None, None))
    with cs.connect(st, read_only=False) as con:
        for key, first, last, count, hosts, value in rows:
            con.execute("INSERT OR REPLACE INTO baselines VALUES ('lateral', ?, ?, ?, ?, ?, ?)",
                        [key, first, last, count, hosts, value])


def admin_share_write(at: timedelta, host: str = "srv05", src: str = SRC, user: str = f"CORP\\{ADMIN}") -> Finding:
    # aptwatch's packaged Sigma rule "Executable Written To An Administrative Share From Another Host"
    return finding("admin_share_executable_write", at, ["TA0008"], "medium", key=f"{host}{src}{user}",
                   host=host, user=user, src_ip=src)


def dispositions(st: Store) -> dict[str, tuple[str, str | None, str | None]]:
    with cs.connect(st, read_only=True) as con:
        return {r[0]: (r[1], r[2], r[3]) for r in con.execute(
            "SELECT finding_id, disposition, campaign_id, via FROM campaign_members").fetchall()}


def store_with(tmp_path: Path, findings: list[Finding]) -> Store:
    st = Store.open(tmp_path / "s", create=True)
    baseline(st)
    with st.writer("t") as w:
        w.write_findings(findings, "run1")
    return st


def test_actor_rule_matches_lateral_routine_criteria() -> None:
    a = AdminActor({(T0 + days(d)).date(): {"srv01", "srv02"} for d in (0, 2, 4)},
                   {"srv01": T0, "srv02": T0, "srv03": T0 + days(2)})
    rule = (3, 3, timedelta(days=7), 2.0)
    assert a.routine(T0 + days(8), *rule)
    assert not a.routine(T0 + days(4), *rule)  # two earlier days only (day 4 itself does not count)
    young = AdminActor(a.days, {k: v + days(3) for k, v in a.first.items()})
    assert not young.routine(T0 + days(8), *rule)  # first seen five days before: not yet a week
    burst = AdminActor({**a.days, (T0 + days(8)).date(): {f"h{i}" for i in range(7)}}, a.first)
    assert not burst.routine(T0 + days(8), *rule)  # seven destinations in a day where two was the most


def test_connections_are_not_administration(tmp_path: Path) -> None:
    st = Store.open(tmp_path / "s", create=True)
    baseline(st, method="lateral.new_edge:user")
    baseline(st, method="lateral.admin_share_write", account="")
    with cs.connect(st, read_only=True) as con:
        actors = load_actors(con, [(SRC, ADMIN), (SRC, "")])
    assert set(actors) == {(SRC, "")}  # the user's first-seen logons teach nothing about administering


def test_a_routine_administrators_admin_share_write_makes_no_campaign(tmp_path: Path) -> None:
    routine = admin_share_write(days(12))
    early = admin_share_write(days(3), host="srv06")  # before the baseline knew the actor
    elsewhere = admin_share_write(days(12) + hours(5), host="srv07", src="10.0.0.99")  # another workstation
    other_account = admin_share_write(days(12) + hours(9), host="srv08", user="CORP\\jdoe")
    st = store_with(tmp_path, [routine, early, elsewhere, other_account])
    correlate(st)
    d = dispositions(st)
    assert d[routine.id][0] == "routine" and d[routine.id][2] == f"routine administration by {ADMIN} from {SRC}"
    assert d[early.id][0] == d[elsewhere.id][0] == d[other_account.id][0] == "member"


def test_a_routine_administrator_is_no_credential_use_glue(tmp_path: Path) -> None:
    # an intrusion dumps credentials on ws01 where the administrator had logged on; the administrator's own
    # routine PsExec from their workstation a week later must not join it through the account
    theft = [finding("phish", days(11), ["TA0001"], "medium", host="ws01"),
             finding("lsass_access", days(11) + minutes(20), ["TA0006"], "high", host="ws01", user=f"CORP\\{ADMIN}")]
    routine = admin_share_write(days(12))
    st = store_with(tmp_path, [*theft, routine])
    correlate(st)
    d = dispositions(st)
    assert d[routine.id][0] == "routine" and d[routine.id][1] is None
    # the same write from the compromised workstation's address is the stolen account in use: it joins
    stolen = admin_share_write(days(12), src="10.0.0.51")
    st2 = store_with(tmp_path / "b", [*theft, stolen])
    correlate(st2)
    d2 = dispositions(st2)
    assert d2[stolen.id][1] == d2[theft[1].id][1] is not None


def test_lateral_findings_use_their_remote_actor(tmp_path: Path) -> None:
    f = Finding.build(detector="lateral", rule_id="lateral.remote_session", title="WinRM session on srv05",
                      severity="medium", time=T0 + days(12), tactics=["TA0008"],
                      entities={"host": "srv05", "src_ip": SRC},
                      extra={"remote": {"method": "lateral.remote_session", "src": SRC, "account": ADMIN,
                                        "dst": "srv05"}})
    st = store_with(tmp_path, [f])
    correlate(st)
    assert dispositions(st)[f.id][0] == "routine"
