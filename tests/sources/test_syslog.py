"""Syslog headers and year-less timestamps (the part every Linux text source shares)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from aptwatch.sources.syslog import HeaderParser, YearResolver, to_int


def test_bsd_header() -> None:
    p = HeaderParser(default_year=2024)
    ln = p.parse("<38>Mar  5 07:08:09.250 web01 sshd[123]: Accepted password for a from b port 1 ssh2")
    assert ln.header and ln.time == datetime(2024, 3, 5, 7, 8, 9, 250000, tzinfo=UTC)
    assert (ln.hostname, ln.host, ln.program, ln.pid) == ("web01", "web01", "sshd", "123")
    assert (ln.facility, ln.severity) == ("auth", "info")
    assert ln.message == "Accepted password for a from b port 1 ssh2"
    ln = p.parse("Mar 15 07:08:09 web01 kernel: [ 1.0] x")
    assert ln.program == "kernel" and ln.pid is None and ln.message == "[ 1.0] x"
    ln = p.parse("Mar 15 07:08:09 web01 message repeated 2 times: [ x]")
    assert ln.program is None and ln.message == "message repeated 2 times: [ x]"
    ln = p.parse("Mar 15 07:08:09 sshd[9]: no host name here")  # some daemons leave the host out
    assert ln.hostname is None and ln.program == "sshd" and ln.message == "no host name here"


def test_iso_and_rfc5424_headers() -> None:
    p = HeaderParser()
    ln = p.parse("2024-03-05T07:08:09.123456789+01:00 web01.corp.example su[5]: (to root) a on pts/0")
    assert ln.time == datetime(2024, 3, 5, 6, 8, 9, 123456, tzinfo=UTC) and ln.host == "web01"
    ln = p.parse('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
                 'eventSource="Application"][x@1 a="\\]"] \ufeffAn application event')
    assert ln.time == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert (ln.host, ln.program, ln.pid, ln.message) == ("mymachine", "evntslog", None, "An application event")
    assert ln.extra == {"msgid": "ID47", "exampleSDID@32473.iut": "3", "exampleSDID@32473.eventSource": "Application",
                        "x@1.a": "]"}
    ln = p.parse("<34>1 - - - - - - bare")
    assert ln.header and ln.time is None and ln.bad_time is None and ln.message == "bare"


def test_bad_and_missing_headers() -> None:
    p = HeaderParser(default_year=2023)
    assert not p.parse("type=SYSCALL msg=audit(1.2:3): x").header
    assert p.parse("Feb 30 10:00:00 h p: x").bad_time == "Feb 30 10:00:00"
    assert p.parse("2024-13-45T99:00:00Z h p: x").bad_time is not None
    assert not p.parse("Foo 12 10:00:00 h p: x").header


def test_year_rollover_and_mtime() -> None:
    y = YearResolver(None, datetime(2024, 1, 3, tzinfo=UTC))
    assert [y.year_for(m) for m in (12, 12, 1, 1)] == [2023, 2023, 2024, 2024]  # started last year, rolled over
    y = YearResolver(2020, None)
    assert [y.year_for(m) for m in (3, 2, 3, 4, 12, 1, 2)] == [2020, 2020, 2020, 2020, 2020, 2021, 2021]
    y = YearResolver(None, datetime(2024, 6, 1, tzinfo=UTC))
    assert y.year_for(5) == 2024


@given(st.integers(), st.text(max_size=25))
def test_to_int_is_bounded(n: int, s: str) -> None:
    for v in (n, str(n), s):
        out = to_int(v, 32)
        assert out is None or -(2**31) <= out < 2**31


@given(st.text(max_size=200))
def test_parse_never_raises(text: str) -> None:
    ln = HeaderParser().parse(text)
    assert ln.header or ln.message == text


@given(st.text(alphabet='[]="\\ ab@.-0', max_size=60), st.sampled_from(["", "- ", "-"]))
def test_rfc5424_structured_data_never_raises(sd: str, prefix: str) -> None:
    ln = HeaderParser().parse(f"<34>1 2024-01-01T00:00:00Z host app 1 ID {prefix}{sd}")
    assert ln.header and ln.program == "app" and ln.time == datetime(2024, 1, 1, tzinfo=UTC)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in ln.extra.items())

