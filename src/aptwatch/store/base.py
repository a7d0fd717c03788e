"""The engine interface: what detectors, correlation and the CLI may ask of a query engine.

An engine turns the lake (through the manifest) into relations named after the event
tables, plus the view `events`, and runs SQL over them. Detectors speak to a `Session`
only, so a second engine (Spark) plugs in by implementing these two classes and one
registration line in `aptwatch/store/engines.py`. SQL is written in DuckDB's dialect; an
engine without `Capability.DUCKDB_SQL` must translate it (sqlglot does DuckDB -> Spark)
or say, through its capabilities, which detectors it cannot run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from enum import Flag, auto
from types import TracebackType
from typing import Any

import pyarrow as pa


class Capability(Flag):
    NONE = 0
    #: accepts DuckDB-dialect SQL as is
    DUCKDB_SQL = auto()
    #: regexp_* functions use RE2 (linear time, no backtracking): safe for rule patterns
    RE2_REGEX = auto()
    #: json_extract / json_extract_string over `data` and `raw`
    JSON_FUNCTIONS = auto()
    #: Arrow tables can be registered as relations
    ARROW_REGISTER = auto()
    #: read-only hunter SQL can be enforced (statement type + no file access)
    READ_ONLY_SQL = auto()
    #: runs on one machine, no cluster needed
    EMBEDDED = auto()


class Session(ABC):
    """A query session over a snapshot of the store's event tables."""

    capabilities: Capability

    @abstractmethod
    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pa.Table:
        """Run a query, return its result as an Arrow table."""

    @abstractmethod
    def register(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table as relation `name` for later queries."""

    @abstractmethod
    def event_tables(self) -> list[str]:
        """Event tables holding at least one file in this snapshot."""

    @abstractmethod
    def close(self) -> None: ...

    def interrupt(self) -> None:  # noqa: B027 - optional capability, a no-op by default
        """Stop the query running in this session (from another thread); it raises in its caller.

        Engines that cannot interrupt do nothing: a caller's time limit then only reports."""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Engine(ABC):
    """A query engine over a store."""

    name: str
    capabilities: Capability

    @abstractmethod
    def session(self, *, with_state: bool = False, read_only_sql: bool = False, threads: int | None = None) -> Session:
        """Open a session. `with_state` also exposes the state tables (findings, campaigns, ...)
        read-only; `read_only_sql` locks the session down for hunters' ad-hoc SQL."""
