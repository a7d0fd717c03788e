"""The store: one directory holding the lake (events) and the state database.

```
<store>/aptwatch-store.json   marker: this directory is a store (format version, creation time)
<store>/lock                  single-writer lock (flock)
<store>/state.duckdb          state tables: manifest, ledger, warnings, findings, campaigns, ...
<store>/lake/<table>/day=YYYY-MM-DD/*.parquet   event tables
```

This package is the only one that knows a database. Everything else gets a `Store`, asks
it for an engine `Session` to query events, and writes through a `StoreWriter`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from aptwatch.errors import StoreError
from aptwatch.store.base import Engine, Session
from aptwatch.store.lake import recover
from aptwatch.store.lock import StoreLock
from aptwatch.store.state import StateDB
from aptwatch.store.writer import StoreWriter

MARKER = "aptwatch-store.json"
STORE_FORMAT = 1
DEFAULT_STORE = ".aptwatch"
ENV_STORE = "APTWATCH_STORE"

__all__ = ["Session", "Store", "StoreWriter", "resolve_store_path"]


def resolve_store_path(option: str | os.PathLike[str] | None) -> Path:
    """`--store` if given, else $APTWATCH_STORE, else ./.aptwatch."""
    if option:
        return Path(option)
    env = os.environ.get(ENV_STORE)
    return Path(env) if env else Path(DEFAULT_STORE)


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = StateDB(root / "state.duckdb")

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = False) -> Store:
        """Open the store at `path`; with `create`, make it when it does not exist yet."""
        root = resolve_store_path(path)
        marker = root / MARKER
        if root.exists() and not root.is_dir():
            raise StoreError("not a store: it is a file, not a directory", location=str(root))
        if marker.exists():
            try:
                meta = json.loads(marker.read_text())
            except (OSError, ValueError) as e:
                raise StoreError(f"not a store: unreadable {MARKER} ({e})", location=str(root)) from None
            if meta.get("format") != "aptwatch-store":
                raise StoreError(f"not a store: {MARKER} is not an aptwatch marker", location=str(root))
            if int(meta.get("version", 0)) > STORE_FORMAT:
                raise StoreError(f"store format {meta.get('version')} is newer than this aptwatch supports "
                                 f"({STORE_FORMAT}); upgrade aptwatch", location=str(root))
            return cls(root)
        if not create:
            if root.exists() and any(root.iterdir()):
                raise StoreError(f"not a store: directory has no {MARKER}", location=str(root))
            raise StoreError("no store here yet; run `aptwatch ingest PATH` first (or pass --store DIR)",
                             location=str(root))
        if root.exists() and any(root.iterdir()):
            raise StoreError(f"not a store: directory is not empty and has no {MARKER}; choose another --store",
                             location=str(root))
        root.mkdir(parents=True, exist_ok=True)
        store = cls(root)
        store.state.init()
        tmp = root / (MARKER + ".tmp")
        tmp.write_text(json.dumps({"format": "aptwatch-store", "version": STORE_FORMAT,
                                   "created": datetime.now(UTC).isoformat()}))
        os.replace(tmp, marker)  # the marker appears last: a half-made store is never mistaken for one
        return store

    # -- reading --------------------------------------------------------------------
    def engine(self, name: str | None = None) -> Engine:
        """The query engine `name` from the engine registry (default: DuckDB)."""
        from aptwatch.store.engines import DEFAULT_ENGINE, ENGINES

        return ENGINES[name or DEFAULT_ENGINE].make(self)

    def session(self, *, with_state: bool = False, read_only_sql: bool = False,
                threads: int | None = None) -> Session:
        """A query session over the current snapshot of the store."""
        return self.engine().session(with_state=with_state, read_only_sql=read_only_sql, threads=threads)

    def manifest(self, con: duckdb.DuckDBPyConnection | None = None, schema: str = "main") -> dict[str, list[str]]:
        """Active lake files per event table (paths relative to the root)."""
        query = f"SELECT table_name, path FROM {schema}.files WHERE status = 'active' ORDER BY path"
        if con is None:
            with self.state.connect(read_only=True) as c:
                rows = c.execute(query).fetchall()
        else:
            rows = con.execute(query).fetchall()
        out: dict[str, list[str]] = {}
        for table, path in rows:
            out.setdefault(table, []).append(path)
        return out

    # -- writing --------------------------------------------------------------------
    @contextmanager
    def writer(self, purpose: str, *, wait: float = 0.0) -> Iterator[StoreWriter]:
        """Take the single-writer lock, finish recovery of earlier crashes, yield a writer."""
        lock = StoreLock(self.root / "lock", purpose)
        lock.acquire(wait)
        try:
            with self.state.hold(), self.state.connect(read_only=False) as con:  # one open for both
                self.state.init()
                recover(self.root, con)
            yield StoreWriter(self)
        finally:
            lock.release()
