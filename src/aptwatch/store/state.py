"""The state database: small, mutable tables (manifest, ledger, warnings, findings, campaigns).

A DuckDB file, `<store>/state.duckdb`. DuckDB lets one process open a file for writing and
refuses every other process meanwhile, so nobody keeps it open long: writers open it for
a commit and close it; readers open it read-only for one command. A connection attempt that
meets another process's lock retries with back-off for `wait` seconds, then raises
`StoreBusyError`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from aptwatch.errors import StoreBusyError, StoreError
from aptwatch.model.schema import SCHEMA_VERSION, STATE_TABLES, duckdb_ddl

DEFAULT_WAIT = 60.0


def is_lock_conflict(err: BaseException) -> bool:
    text = str(err).lower()
    return "lock" in text and ("conflict" in text or "could not set" in text)


#: environment variable: DuckDB memory limit of aptwatch's sessions and state connections (e.g. "4GB")
ENV_MEMORY_LIMIT = "APTWATCH_MEMORY_LIMIT"


def memory_config() -> dict[str, Any]:
    """The memory limit from $APTWATCH_MEMORY_LIMIT as DuckDB config (empty when unset: DuckDB's default,
    80% of RAM). State connections spill beyond it to `state.duckdb.tmp`, sessions to the store's tmp/."""
    limit = os.environ.get(ENV_MEMORY_LIMIT, "").strip()
    return {"memory_limit": limit} if limit else {}


def open_duckdb(path: Path, *, read_only: bool, wait: float = DEFAULT_WAIT) -> duckdb.DuckDBPyConnection:
    """duckdb.connect with retry on another process's lock."""
    deadline = time.monotonic() + wait
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=memory_config())
            con.execute("SET TimeZone='UTC'")
            return con
        except duckdb.IOException as e:
            if not is_lock_conflict(e):
                raise StoreError(f"cannot open state database: {e}", location=str(path)) from None
            if time.monotonic() >= deadline:
                raise StoreBusyError("store is busy: another aptwatch process has its state database open; "
                                     "try again when it finishes", location=str(path.parent)) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class StateDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        # the read-write connection of a `hold()` block, and how deep the blocks nest
        self._held: duckdb.DuckDBPyConnection | None = None
        self._holds = 0

    @contextmanager
    def connect(self, *, read_only: bool = True, wait: float = DEFAULT_WAIT) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one short piece of work: opened and closed, or the held one (see `hold`)."""
        if self._held is not None:
            # a cursor of the held database: its own transaction, registrations and pending results, closed here
            cur = self._held.cursor()
            try:
                yield cur
            finally:
                cur.close()
            return
        con = open_duckdb(self.path, read_only=read_only, wait=wait)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def hold(self, *, wait: float = DEFAULT_WAIT) -> Iterator[None]:
        """Serve every `connect` of this block from one read-write connection (writers are single-threaded).

        Opening the state database and checkpointing it on close costs ~10-40 ms; a writer making
        several short steps in a row (an ingest's setup, or its final commit, compaction and
        address update) pays it once. Each `connect` gets a cursor of the held connection (its own
        transaction and registrations, closed after its step). Other processes cannot read
        meanwhile, so hold a connection only around such a burst of steps, never across long work
        like parsing. Steps still run their multi-statement writes in BEGIN/COMMIT, so a kill leaves
        each step all or nothing. Inside a hold, a query session must not attach the state database
        itself (`session(with_state=True)` opens the file a second time); plain sessions are fine
        (their manifest comes through `connect`)."""
        if self._held is not None:
            self._holds += 1
            try:
                yield
            finally:
                self._holds -= 1
            return
        self._held = open_duckdb(self.path, read_only=False, wait=wait)
        self._holds = 1
        try:
            yield
        finally:
            con, self._held, self._holds = self._held, None, 0
            con.close()

    def init(self) -> None:
        """Create missing tables and add missing columns (stores made by older versions)."""
        with self.connect(read_only=False) as con:
            existing = {
                (t, c) for t, c in con.execute(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
                ).fetchall()
            }
            tables = {t for t, _ in existing}
            con.execute("BEGIN")
            for table in STATE_TABLES:
                if table.name not in tables:
                    con.execute(duckdb_ddl(table))
                    continue
                for col in table.columns:
                    if (table.name, col.name) not in existing:
                        con.execute(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {col.duckdb_type}')
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            con.execute("COMMIT")
