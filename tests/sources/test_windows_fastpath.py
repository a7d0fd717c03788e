"""The fast decoder of evtx JSON (`evtxfast.split_record`) gives the same canonical pieces as the
reference (`orjson` + `evtxjson.split_fast`) for every record it accepts: on every record of
evtx-attack-samples, and on generated records of every shape (hypothesis)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import evtx
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from aptwatch.sources.windows.builder import text
from aptwatch.sources.windows.evtxfast import split_record
from aptwatch.sources.windows.evtxjson import split_fast
from tests.conftest import shared_path


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as the builder stores them (every value rendered as Windows text, see `builder.text`):
    the fast path renders the System extras as text, the reference keeps their JSON types."""
    return {k: text(v) for k, v in fields.items()}


def _reference(raw: str) -> tuple[Any, ...]:
    time, computer, channel, provider, eid, fields = split_fast(orjson.loads(raw)["Event"])
    return time, computer, channel, provider, eid, _stored(fields)


def _same(raw: str) -> bool | None:
    """None when the fast path declines the record, else whether both paths agree."""
    fast = split_record(raw)
    if fast is None:
        return None
    *core, fields = fast
    return (*core, _stored(fields)) == _reference(raw)


def test_every_attack_sample_record_reads_the_same_on_both_paths() -> None:
    root = shared_path("evtx-attack-samples")
    taken = declined = 0
    for path in sorted(root.rglob("*.evtx")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for rec in evtx.PyEvtxParser(str(path), number_of_threads=1).records_json():
                same = _same(rec["data"])
                if same is None:
                    declined += 1
                else:
                    assert same, (path.name, rec["event_record_id"])
                    taken += 1
    assert taken + declined >= 8_255
    assert taken > 0.8 * (taken + declined)  # the fast path is the common one (else it is no speed-up)


#: integers up to UInt64 max: the evtx package renders nothing wider (see `evtxfast.Int`)
_scalar = st.one_of(st.text(max_size=12), st.integers(min_value=-(2**64), max_value=2**64 - 1), st.booleans(),
                    st.none(), st.floats(allow_nan=False, allow_infinity=False))
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3), st.dictionaries(st.text(max_size=4), _scalar, max_size=2))
_maybe = st.one_of(st.none(), st.just("absent"))


def _attrs(d: dict[str, Any]) -> dict[str, Any]:
    return {"#attributes": d}


@st.composite
def _records(draw: st.DrawFn) -> str:
    system: dict[str, Any] = {
        "Provider": _attrs({"Name": draw(st.one_of(st.text(max_size=8), st.none()))}),
        "EventID": draw(st.one_of(st.integers(min_value=-5, max_value=70_000), st.text(max_size=5),
                                  st.builds(lambda n: {"#attributes": {"Qualifiers": 16384}, "#text": n},
                                            st.integers(min_value=0, max_value=9999)))),
        "TimeCreated": _attrs({"SystemTime": draw(st.one_of(st.just("2024-03-01T10:00:00.123456Z"), st.none()))}),
    }
    extras = {
        "EventRecordID": st.one_of(st.integers(min_value=0, max_value=2**40), st.none()),
        "Channel": st.one_of(st.text(max_size=8), st.none()),
        "Computer": st.one_of(st.text(max_size=8), st.none()),
        "Execution": st.one_of(st.none(), st.builds(lambda p: _attrs({"ProcessID": p, "ThreadID": 7}),
                                                    st.integers(min_value=0, max_value=99999))),
        "Security": st.one_of(st.none(), st.builds(lambda u: _attrs({"UserID": u}), st.text(max_size=10))),
        "Correlation": st.one_of(st.none(), st.builds(
            lambda a: _attrs({} if a is None else {"ActivityID": a}),
            st.one_of(st.none(), st.just("6a6d2a1c-59a2-0001-3b2c-6d6aa259da01"), st.text(max_size=5)))),
    }
    for key, strategy in extras.items():
        if draw(st.booleans()):
            system[key] = draw(strategy)
    system["Version"] = draw(st.integers(min_value=0, max_value=5))
    event: dict[str, Any] = {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
                             "System": system}
    body = draw(st.sampled_from(["EventData", "EventDataNull", "UserData", "none"]))
    names = st.sampled_from(["CommandLine", "Image", "ProcessId", "Data", "EventRecordID", "UserID", "ActivityID",
                             "ExecutionProcessID", "#attributes", "x"])
    data = draw(st.dictionaries(names, _value, max_size=5))
    if body == "EventData":
        event["EventData"] = data
    elif body == "EventDataNull":
        event["EventData"] = None
    elif body == "UserData":
        event["UserData"] = {"LogFileCleared": data}
    return json.dumps({"Event": event})  # not orjson: it cannot write integers beyond 64 bits


@settings(max_examples=300, deadline=None)
@given(_records())
def test_generated_records_read_the_same_on_both_paths(raw: str) -> None:
    assert _same(raw) is not False


@given(st.text(max_size=60))
def test_any_text_is_declined_or_read_never_raised(raw: str) -> None:
    split_record(raw)  # a record the strict types refuse is None, never an exception
