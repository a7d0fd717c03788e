"""DuckDB, the reference engine: embedded, no server, RE2 regexes, reads the lake's Parquet directly."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from aptwatch.errors import QueryError
from aptwatch.model.schema import COMMON_NAMES, EVENT_TABLES, STATE_TABLES, empty_select
from aptwatch.store.base import Capability, Engine, Session
from aptwatch.store.state import open_duckdb

if TYPE_CHECKING:
    from aptwatch.store import Store

CAPABILITIES = (Capability.DUCKDB_SQL | Capability.RE2_REGEX | Capability.JSON_FUNCTIONS | Capability.ARROW_REGISTER
                | Capability.READ_ONLY_SQL | Capability.EMBEDDED)
#: statement types a hunter's read-only SQL may contain
READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN"}


def sql_str(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


class DuckDBSession(Session):
    capabilities = CAPABILITIES

    def __init__(self, store: Store, *, with_state: bool, read_only_sql: bool, threads: int | None) -> None:
        self.store = store
        self.read_only_sql = read_only_sql
        self.con = duckdb.connect(config={"threads": threads or os.cpu_count() or 1})
        self.con.execute("SET TimeZone='UTC'")
        self._attached = False
        try:
            if with_state:
                self._attach_state()
                manifest = self.store.manifest(self.con, schema="state")
            else:
                manifest = self.store.manifest()
            self._tables = sorted(t for t, files in manifest.items() if files)
            self._create_views(manifest)
            if read_only_sql:
                lake = str(self.store.root / "lake") + os.sep
                self.con.execute(f"SET allowed_directories=[{sql_str(lake)}]")
                self.con.execute("SET enable_external_access=false")
                self.con.execute("SET lock_configuration=true")
        except BaseException:
            self.con.close()
            raise

    def _attach_state(self) -> None:
        # Probe with a retrying connect so a writer's commit makes us wait, not fail.
        open_duckdb(self.store.state.path, read_only=True).close()
        self.con.execute(f"ATTACH {sql_str(str(self.store.state.path))} AS state (READ_ONLY)")
        self._attached = True
        for t in STATE_TABLES:
            self.con.execute(f"CREATE VIEW {t.name} AS SELECT * FROM state.{t.name}")

    def _create_views(self, manifest: Mapping[str, list[str]]) -> None:
        for table in EVENT_TABLES:
            files = manifest.get(table.name, [])
            empty = empty_select(table)
            if files:
                listed = ", ".join(sql_str(str(self.store.root / f)) for f in files)
                # UNION BY NAME with an empty typed relation: every schema column exists even when
                # all files predate it.
                body = (f"SELECT * FROM read_parquet([{listed}], union_by_name=true, hive_partitioning=false) "
                        f"UNION ALL BY NAME {empty}")
            else:
                body = empty
            self.con.execute(f'CREATE VIEW "{table.name}" AS {body}')
        cols = ", ".join(f'"{c}"' for c in COMMON_NAMES)
        union = " UNION ALL ".join(f'SELECT {cols} FROM "{t.name}"' for t in EVENT_TABLES)
        self.con.execute(f"CREATE VIEW events AS {union}")

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pa.Table:
        if self.read_only_sql:
            self.check_read_only(query)
        try:
            rel = self.con.sql(query, params=params) if params is not None else self.con.sql(query)
            if rel is None:
                return pa.table({})
            return rel.to_arrow_table()
        except duckdb.Error as e:
            if self.read_only_sql:
                raise QueryError(str(e).splitlines()[0]) from None
            raise

    def check_read_only(self, query: str) -> None:
        try:
            statements = self.con.extract_statements(query)
        except duckdb.Error as e:
            raise QueryError(str(e).splitlines()[0]) from None
        if not statements:
            raise QueryError("empty query")
        for st in statements:
            kind = st.type.name
            if kind not in READ_ONLY_STATEMENTS:
                raise QueryError(f"only read-only SQL is allowed (SELECT, EXPLAIN); got {kind}")

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def event_tables(self) -> list[str]:
        return list(self._tables)

    def interrupt(self) -> None:
        self.con.interrupt()

    def close(self) -> None:
        self.con.close()


class DuckDBEngine(Engine):
    name = "duckdb"
    capabilities = CAPABILITIES

    def __init__(self, store: Store) -> None:
        self.store = store

    def session(self, *, with_state: bool = False, read_only_sql: bool = False,
                threads: int | None = None) -> DuckDBSession:
        return DuckDBSession(self.store, with_state=with_state, read_only_sql=read_only_sql, threads=threads)
