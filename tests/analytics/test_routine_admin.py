"""Routine remote administration (lateral): a learned baseline of method / source / account actors.

Small fixtures written here: an administrator at 10.0.0.5 PsExec-ing servers one a day; the real-data
cases are in test_real_data.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aptwatch.detect.analytics.routine import remote_actor
from aptwatch.store import Store
from tests.analytics.lake import detect, write
from tests.analytics.test_lateral import logon

T0 = 1699920000.0  # 2023-11-14 00:00 UTC
DAY = 86400.0
SERVERS = [f"srv{i}" for i in range(1, 6)]


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store.open(store_dir, create=True)


def psexec(t: float, host: str, user: str = "admin", src: str = "10.0.0.5", service: str = "PSEXESVC",
           image: str = "%SystemRoot%\\PSEXESVC.exe", n: int = 0) -> dict[str, list[dict[str, Any]]]:
    """A PsExec-like session to `host`: the network logon, then the service install right after."""
    lid = f"0x{int(t) % 100000:x}{n}"
    return {"auth": [logon(t, host, user, src, lid, package="NTLM", process="NtLmSsp", key_length="128")],
            "persistence": [{"time": t + 3, "host": host, "event_code": 7045, "action": "service_installed",
                             "name": service, "image_path": image, "account": "LocalSystem"}]}


def merge(*parts: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in parts:
        for k, v in p.items():
            out.setdefault(k, []).extend(v)
    return out


def admin_days(days: range) -> dict[str, list[dict[str, Any]]]:
    """The administrator's routine: one server a day, in rotation, mid-morning."""
    return merge(*(psexec(T0 + d * DAY + 3600, SERVERS[d % len(SERVERS)]) for d in days))


def installs(findings: list) -> list:
    return sorted((f for f in findings if f.rule_id == "lateral.service_install"), key=lambda f: f.time)


def test_actor_of_a_finding_is_normalised() -> None:
    assert remote_actor("::ffff:10.0.0.5", "CORP\\Admin", "SRV1", "m") == {
        "remote": {"method": "m", "src": "10.0.0.5", "account": "admin", "dst": "srv1"}}
    assert remote_actor(None, "admin", "srv1", "m") == {}
    assert remote_actor("127.0.0.1", "admin", "srv1", "m") == {}
    assert remote_actor("10.0.0.5", "a|b", "srv1", "m|x")["remote"]["method"] == "m/x"
    # one admin workstation and one server, however each log spells them, are one actor
    fqdn = remote_actor("ADMIN01.corp.example.com", "CORP\\admin", "srv1.corp.example.com.", "m")
    assert fqdn == remote_actor("admin01", "admin", "SRV1", "m")
    assert fqdn["remote"]["src"] == "admin01" and fqdn["remote"]["dst"] == "srv1"
    assert remote_actor("-", "admin", "srv1", "m") == remote_actor("localhost", "admin", "srv1", "m") == {}
    assert remote_actor("10.0.0.5", "Admin@corp.example.com", "srv1", "m")["remote"]["account"] == "admin"


def test_routine_psexec_is_learned_then_not_reported(store: Store) -> None:
    write(store, admin_days(range(12)))
    findings, rep = detect(store, ["lateral"])
    got = installs(findings)
    # reported while the actor is young (< 7 days since first seen); from day 7 on it is routine
    days = sorted({int((f.time.timestamp() - T0) // DAY) for f in got})
    assert days == list(range(7))
    assert all(f.extra["remote"] == {"method": "lateral.service_install:odd-image+psexec-name", "src": "10.0.0.5",
                                     "account": "admin", "dst": f.entities["host"][0]} for f in got)
    assert rep.by_detector.get("lateral") == len(findings)
    note = [n for n in rep.notes if "routine remote administration" in n]
    assert note and note[0].startswith("lateral: 5 finding(s) of routine remote administration not reported (1 ")


def test_one_ingest_or_one_a_day_gives_the_same_findings(store: Store, tmp_path: Path) -> None:
    write(store, admin_days(range(10)))
    once = {(f.time, f.entities["host"]) for f in installs(detect(store, ["lateral"])[0])}
    daily_store = Store.open(tmp_path / "daily", create=True)
    daily: set[str] = set()
    for d in range(10):
        write(daily_store, admin_days(range(d, d + 1)))
        daily |= {(f.time, f.entities["host"]) for f in installs(detect(daily_store, ["lateral"])[0])}
    assert once == daily and len(once) == 7


@pytest.mark.parametrize("what", ["other account", "other source", "other method", "burst"])
def test_a_routine_source_doing_something_new_is_reported(store: Store, what: str) -> None:
    write(store, admin_days(range(10)))
    detect(store, ["lateral"])  # learned: day 7-9 not reported
    t = T0 + 10 * DAY + 3600
    new = {
        # stolen credentials used from the administrator's workstation
        "other account": psexec(t, "srv2", user="svc_backup"),
        # the administrator's account from another machine (the intruder's foothold)
        "other source": psexec(t, "srv2", src="10.0.0.66"),
        # a random-named service binary where the actor always installed PSEXESVC
        "other method": psexec(t, "srv2", service="xkqzvtrb", image="C:\\Windows\\xkqzvtrb.exe"),
        # the administrator's account suddenly on every server (and more) in one day
        "burst": merge(*(psexec(t + 60 * i, h, n=i) for i, h in enumerate([*SERVERS, "srv6", "srv7"]))),
    }[what]
    write(store, new)
    got = installs(detect(store, ["lateral"])[0])
    assert got, what
    assert all(f.time.timestamp() >= t for f in got)
    if what == "burst":
        assert len(got) == 7


def test_routine_days_zero_reports_everything(store: Store) -> None:
    write(store, admin_days(range(12)))
    findings, rep = detect(store, ["lateral"], **{"lateral.routine_days": 0})
    assert len(installs(findings)) == 12
    assert not [n for n in rep.notes if "routine" in n]


def test_routine_needs_many_destinations(store: Store) -> None:
    """One server every day (a backup job's service, say) is a habit on one host, not administration
    across the estate: the actor never reaches `routine_destinations` and keeps being reported."""
    write(store, merge(*(psexec(T0 + d * DAY + 3600, "srv1") for d in range(12))))
    assert len(installs(detect(store, ["lateral"])[0])) == 12


def test_findings_without_a_source_are_never_routine(store: Store) -> None:
    """A PsExec pipe on each server a day, with no network logon in the data to say where it came from:
    no actor, so no baseline can make it routine."""
    pipes = [{"time": T0 + d * DAY + 3600, "host": SERVERS[d % len(SERVERS)], "event_code": 17, "action": "created",
              "pipe_name": f"\\PSEXESVC-WS1-{d}-stdin", "process_path": "C:\\Windows\\PSEXESVC.exe"}
             for d in range(12)]
    write(store, {"pipe": pipes})
    findings, rep = detect(store, ["lateral"])
    got = [f for f in findings if f.rule_id == "lateral.psexec_artifact"]
    assert len(got) == 12 and not any("remote" in f.extra for f in got)
    assert not [n for n in rep.notes if "routine" in n]
