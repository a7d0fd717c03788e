"""The event sink: what generators emit into, and the time-ordered flush to the writers.

Generators run *activities* in start-time order (engine.py). An activity emits events at
its start time or later (a process tree unfolds over seconds, a logon session ends hours
later). Events wait in a heap until no activity can emit anything earlier, then go to
the writers in time order. Memory is therefore bounded by the events still pending (those
later than the activity being run), not by the size of the simulation.

Events carry an optional `Truth` label: every event an attack step causes (on any host,
in any log) is labelled with the campaign, stage and technique; the writer records its
file and line in the ground truth when it is written.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aptwatch.simulate.org import Account, Host

WIN, ZEEK, SYSLOG = 0, 1, 2


@dataclass(frozen=True)
class Truth:
    """Why an event is malicious: which campaign, stage, technique and procedure."""

    campaign: str
    profile: str
    stage: str
    tactic: str
    technique: str
    step: str


@dataclass(frozen=True)
class Written:
    """Where a written event landed."""

    stream: str
    file: str
    line: int
    record: int | None = None


class Writers(Protocol):
    """The output side (writers.py)."""

    def write_win(self, t: float, host: Host, channel: str, eid: int, data: Mapping[str, Any],
                  user: Account | None, exec_pid: int, user_data: str | None) -> Written: ...

    def write_zeek(self, t: float, log: str, row: tuple[str, ...]) -> Written: ...

    def write_syslog(self, t: float, host: Host, program: str, pid: int | None, message: str) -> Written: ...

    def write_truth(self, t: float, host: str, truth: Truth, where: Written, extra: Mapping[str, Any]) -> None: ...


class Sink:
    """Collects events from activities and writes them in time order."""

    def __init__(self, writers: Writers, end: float) -> None:
        self._w = writers
        self._end = end
        self._heap: list[tuple[float, int, int, tuple[Any, ...], Truth | None]] = []
        self._seq = itertools.count()
        self.truth: Truth | None = None
        self.counts: Counter[str] = Counter()
        self.malicious = 0
        self.dropped = 0
        self.clamped = 0
        self.peak_pending = 0
        self._last = float("-inf")

    # -- emit ---------------------------------------------------------------------------
    def win(self, t: float, host: Host, channel: str, eid: int, data: Mapping[str, Any], *,
            user: Account | None = None, exec_pid: int = 4, user_data: str | None = None) -> None:
        """A Windows event. `user` is the event's System/Security UserID (Sysmon: SYSTEM);
        `user_data` names the UserData element for events that carry one (1102, 104)."""
        heapq.heappush(self._heap, (t, next(self._seq), WIN,
                                    (host, channel, eid, data, user, exec_pid, user_data), self.truth))

    def zeek(self, t: float, log: str, row: tuple[str, ...], host: str = "") -> None:
        """A Zeek record; `row` holds the formatted columns after `ts`; `host` is the internal
        host the record is about (for the ground truth)."""
        heapq.heappush(self._heap, (t, next(self._seq), ZEEK, (log, row, host), self.truth))

    def syslog(self, t: float, host: Host, program: str, pid: int | None, message: str) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), SYSLOG, (host, program, pid, message), self.truth))

    @contextmanager
    def labelled(self, truth: Truth | None) -> Iterator[None]:
        """Label every event emitted inside the block (None: benign)."""
        saved = self.truth
        self.truth = truth
        try:
            yield
        finally:
            self.truth = saved

    # -- flush --------------------------------------------------------------------------
    def flush_until(self, t: float) -> None:
        """Write every pending event earlier than `t`."""
        heap = self._heap
        if len(heap) > self.peak_pending:
            self.peak_pending = len(heap)
        while heap and heap[0][0] < t:
            self._write(heapq.heappop(heap))

    def flush_all(self) -> None:
        while self._heap:
            self._write(heapq.heappop(self._heap))

    @property
    def pending(self) -> int:
        return len(self._heap)

    def _write(self, item: tuple[float, int, int, tuple[Any, ...], Truth | None]) -> None:
        t, _, kind, p, truth = item
        if t >= self._end:
            self.dropped += 1
            return
        if t < self._last:
            # an activity reached further back than the engine's look-back: keep files ordered
            self.clamped += 1
            t = self._last
        self._last = t
        w = self._w
        if kind == WIN:
            host, channel, eid, data, user, exec_pid, user_data = p
            where = w.write_win(t, host, channel, eid, data, user, exec_pid, user_data)
            self.counts["windows"] += 1
            if truth is not None:
                self.malicious += 1
                w.write_truth(t, host.key, truth, where, {"channel": channel, "event_code": eid})
        elif kind == ZEEK:
            log, row, host_key = p
            where = w.write_zeek(t, log, row)
            self.counts[f"zeek:{log}"] += 1
            if truth is not None:
                self.malicious += 1
                uid = row[1] if log == "files" else row[0]
                w.write_truth(t, host_key, truth, where, {"log": log, "uid": uid})
        else:
            host, program, pid, message = p
            where = w.write_syslog(t, host, program, pid, message)
            self.counts["syslog"] += 1
            if truth is not None:
                self.malicious += 1
                w.write_truth(t, host.key, truth, where, {"program": program})
