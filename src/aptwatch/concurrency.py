"""Small threading helpers for overlapping I/O, parsing and writing.

Arrow, DuckDB, numpy and zlib/zstd release the GIL in their heavy loops, so reading the
next chunk, querying this one and compressing the previous one overlap on two cores.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Iterate `items` in a background thread, up to `depth` items ahead. Exceptions re-raise here."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as e:  # handed to the consumer, which re-raises it
            q.put(e)

    t = threading.Thread(target=run, name="aptwatch-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class SerialWorker:
    """Runs submitted calls one after another in a background thread; `join()` re-raises errors."""

    def __init__(self, depth: int = 2) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._t = threading.Thread(target=self._run, name="aptwatch-writer", daemon=True)
        self._t.start()

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is _DONE:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as e:
                    self._error = e

    def submit(self, fn: Callable[[], None]) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(fn)

    def join(self) -> None:
        self._q.put(_DONE)
        self._t.join()
        if self._error is not None:
            raise self._error


def ordered_map(fn: Callable[[T], Any], items: Iterator[T], workers: int = 2, depth: int = 4) -> Iterator[Any]:
    """`map(fn, items)` on a thread pool, results in input order, at most `depth` items in flight.

    For per-chunk work that runs in C with the GIL released (DuckDB queries, Arrow kernels).
    """
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aptwatch-map") as pool:
        pending: deque[Future[Any]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
