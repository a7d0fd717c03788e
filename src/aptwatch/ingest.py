"""Ingest: paths -> sources -> parsed batches -> Parquet files -> committed, visible events.

1. `discover` expands folders and archives (zip, tar, gzip, bzip2, xz; nested) into
   `SourceRef`s. Paths the user named must exist and be readable (else `InputError`).
2. Each source is hashed (SHA-256 of its decompressed content) and sniffed; content
   already in the ledger is skipped, which makes ingest idempotent. Large plain files of a size
   the ledger does not have are hashed beside their parse instead (`DEFER_HASH_MIN_BYTES`).
3. Sources are parsed in worker processes when there is enough work for them; each writes
   its own Parquet files and reports a `SourceCommit`.
4. The main process commits sources to the manifest and ledger in small groups; a source is
   visible entirely or not at all, so an ingest killed at any moment re-runs to exactly the
   right count.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.context.addresses import update_host_addresses
from aptwatch.context.networks import configured_networks
from aptwatch.errors import InputError, UnknownFormatError
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.model.schema import arrow_schema, event_table
from aptwatch.runtime import configure_process
from aptwatch.sources import SOURCES, detect_format
from aptwatch.sources.base import HEAD_BYTES, IngestSettings, Layer, ReadContext, SourceRef, archive_kind
from aptwatch.store import Store
from aptwatch.store.lake import PartitionWriter, TimeBounds, widen_time_bounds
from aptwatch.store.writer import SourceCommit, StoreWriter

#: archives nested deeper than this are not opened (zip bombs, recursion)
MAX_ARCHIVE_DEPTH = 4
#: use worker processes only when there is at least this much input
PARALLEL_MIN_BYTES = 8 << 20
#: commit at least every this many sources / seconds
COMMIT_SOURCES = 64
COMMIT_SECONDS = 2.0
#: bytes of input per batch of sources read into one set of lake files (see `plan_batches`)
BATCH_MIN_BYTES = 64 << 20
BATCH_MAX_BYTES = 256 << 20
BATCH_MAX_SOURCES = 4096
#: plain files at least this large whose size no stored source and no other input has are read before
#: their SHA-256 is known: it is computed beside the parse (their content cannot already be in the
#: ledger: equal content has equal size). A 1 GB file hashes in ~0.5 s that would otherwise come first.
DEFER_HASH_MIN_BYTES = 8 << 20


@dataclass(frozen=True)
class Unreadable:
    """A file or archive member discovery could not open."""

    display: str
    detail: str


@dataclass(frozen=True)
class Candidate:
    ref: SourceRef
    size: int
    #: empty when the hash is deferred: computed while the source is read (see `DEFER_HASH_MIN_BYTES`)
    sha256: str
    format: str | None


@dataclass
class IngestReport:
    ingest_id: str
    sources: int = 0
    skipped: int = 0
    events: int = 0
    warnings: int = 0
    failed: int = 0
    unknown: list[str] = field(default_factory=list)
    by_format: Counter[str] = field(default_factory=Counter)
    by_table: Counter[str] = field(default_factory=Counter)
    #: (table, day) partitions that received files
    partitions: set[tuple[str, str]] = field(default_factory=set)
    #: lake files written per table (paths under the store root)
    files: dict[str, list[str]] = field(default_factory=dict)
    #: small files merged by the compaction that follows the ingest
    compacted: int = 0
    seconds: float = 0.0


class Progress:
    """Progress callbacks (no-op by default; the CLI draws a bar on stderr)."""

    def start(self, sources: int, total_bytes: int) -> None: ...

    def advance(self, display: str, size: int) -> None: ...

    def note(self, message: str) -> None: ...


# --------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------
def discover(paths: Sequence[str | os.PathLike[str]]) -> Iterator[SourceRef | Unreadable]:
    """Files and archive members under the given paths, in a stable order."""
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError("no such file or directory", location=str(p))
        if path.is_dir():
            for dirpath, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    yield from _expand(SourceRef(os.path.join(dirpath, name)), 0)
        else:
            if not os.access(path, os.R_OK):
                raise InputError("permission denied", location=str(p))
            yield from _expand(SourceRef(str(p)), 0)


def _head(ref: SourceRef) -> bytes:
    with ref.open() as f:
        return f.read(HEAD_BYTES)


def _expand(ref: SourceRef, depth: int) -> Iterator[SourceRef | Unreadable]:
    try:
        head = _head(ref)
    except (OSError, EOFError, ValueError) as e:  # surfaced as a warning by ingest
        yield Unreadable(ref.display, f"{type(e).__name__}: {e}")
        return
    kind = archive_kind(head)
    if kind is None or depth >= MAX_ARCHIVE_DEPTH:
        yield ref
        return
    if kind in ("gzip", "bzip2", "xz"):
        yield from _expand(SourceRef(ref.path, (*ref.layers, Layer(kind))), depth + 1)
        return
    try:
        members = _members(ref, kind)
    except (OSError, EOFError, ValueError) as e:
        yield Unreadable(ref.display, f"bad {kind} archive: {type(e).__name__}: {e}")
        return
    for m in members:
        yield from _expand(SourceRef(ref.path, (*ref.layers, Layer(kind, m))), depth + 1)


def _members(ref: SourceRef, kind: str) -> list[str]:
    import tarfile
    import zipfile

    with ref.open() as f:
        if kind == "zip":
            with zipfile.ZipFile(f) as zf:
                return sorted(i.filename for i in zf.infolist() if not i.is_dir())
        with tarfile.open(fileobj=f, mode="r:") as tf:
            return sorted(m.name for m in tf.getmembers() if m.isfile())


def fingerprint(ref: SourceRef) -> tuple[str, int, bytes]:
    """SHA-256, size and head of the decompressed content."""
    h = hashlib.sha256()
    size = 0
    head = b""
    # one reused buffer: a fresh 1 MB bytes object per block costs page faults (~0.2 s per GB in all)
    buf = memoryview(bytearray(1 << 20))
    with ref.open() as f:
        while n := f.readinto(buf):  # type: ignore[attr-defined]  # every stream SourceRef.open returns has it
            block = buf[:n]
            if len(head) < HEAD_BYTES:
                head += bytes(block[: HEAD_BYTES - len(head)])
            h.update(block)
            size += n
    return h.hexdigest(), size, head


class _DeferredHash:
    """The SHA-256 of a source whose hash the ingest deferred (see `DEFER_HASH_MIN_BYTES`), computed in a
    thread while its parser starts: hashlib and the reads release the GIL, so it runs beside the parse,
    not before it. `get()` waits for it; a read error surfaces there."""

    def __init__(self, ref: SourceRef) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aptwatch-hash")
        self._future = self._pool.submit(fingerprint, ref)
        self._pool.shutdown(wait=False)

    def get(self) -> tuple[str, int]:
        sha, size, _head = self._future.result()
        return sha, size


def _source_hash(cand: Candidate) -> Callable[[], tuple[str, int]]:
    """The candidate's SHA-256 and the size it covers, as a call that may wait for a deferred hash
    (started here). The ledger records both from the same read: a file that grew after its size was
    taken is recorded with the size of the content hashed, so re-ingesting it unchanged finds it."""
    if cand.sha256:
        known = (cand.sha256, cand.size)
        return lambda: known
    return _DeferredHash(cand.ref).get


# --------------------------------------------------------------------------------------
# Reading one source (runs in a worker process or inline)
# --------------------------------------------------------------------------------------
def conform(batch: TableBatch, *, sha16: str, display: str, ingest_id: str, fmt: str) -> pa.Table:
    """Fill ingest-owned columns and cast a parser batch to its table's full schema."""
    schema = arrow_schema(event_table(batch.table))
    data = batch.data
    n = data.num_rows
    record = pc.cast(data.column("record"), pa.int64())
    owned = {
        "event_id": pc.binary_join_element_wise(sha16, pc.cast(record, pa.string()), "-"),
        "source": pa.repeat(pa.scalar(display, pa.string()), n),
        "ingest_id": pa.repeat(pa.scalar(ingest_id, pa.string()), n),
        "table_name": pa.repeat(pa.scalar(batch.table, pa.string()), n),
        "format": pa.repeat(pa.scalar(fmt, pa.string()), n),
        "record": record,
    }
    cols = []
    for f in schema:
        if f.name in owned:
            cols.append(owned[f.name])
        elif f.name in data.column_names:
            col = data.column(f.name)
            cols.append(col if col.type == f.type else pc.cast(col, f.type))
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


class _ParserError(Exception):
    """A parser raised (a bug): the source fails, the rest of its batch is read again without it."""


def _read_into(cand: Candidate, sha: Callable[[], tuple[str, int]], writer: PartitionWriter, ingest_id: str,
               settings: IngestSettings) -> SourceCommit:
    """Parse one source into `writer`; the commit it returns has no files (the caller adds them).
    `sha` gives the source's SHA-256 and the size it covers (it may wait for a deferred hash: only
    conformed rows and the commit need it)."""
    assert cand.format is not None
    source = SOURCES[cand.format]
    ctx = ReadContext(cand.ref, cand.sha256, cand.size, settings)
    events = 0
    kept: list[tuple[int | None, str, str]] = []
    per_reason: Counter[str] = Counter()
    bounds: TimeBounds = (None, None)
    sha16 = ""
    try:
        for item in source.read(ctx):
            if isinstance(item, IngestWarning):
                per_reason[item.reason] += 1
                if per_reason[item.reason] <= settings.max_warnings_per_reason:
                    kept.append((item.position, item.reason, item.detail))
                continue
            sha16 = sha16 or sha()[0][:16]
            table = conform(item, sha16=sha16, display=cand.ref.display, ingest_id=ingest_id, fmt=source.name)
            writer.write(item.table, table)
            events += table.num_rows
            bounds = widen_time_bounds(bounds, table.column("time"))
    except Exception as e:  # a parser bug: this source fails, the run goes on and reports it
        raise _ParserError(f"{type(e).__name__}: {e}") from e
    finally:
        ctx.cleanup()
    try:
        digest, size = sha()
    except (OSError, EOFError, ValueError) as e:  # a deferred hash could not read the file
        raise _ParserError(f"unreadable: {type(e).__name__}: {e}") from e
    for reason, count in per_reason.items():
        if count > settings.max_warnings_per_reason:
            kept.append((None, reason, f"{count - settings.max_warnings_per_reason} more '{reason}' warnings "
                                       "not stored (counted)"))
    return SourceCommit(digest, cand.ref.display, size, source.name, (), events, tuple(kept),
                        sum(per_reason.values()), *bounds)


def _failed(cand: Candidate, detail: str) -> SourceCommit:
    return SourceCommit(cand.sha256, cand.ref.display, cand.size, SOURCES[cand.format or ""].name, (), -1,
                        ((None, "parser_error", detail),), 1, None, None)


def read_source(cand: Candidate, ingest_id: str, root: str, settings: IngestSettings) -> SourceCommit:
    """Parse one source into lake files (not yet visible). Never raises on bad input."""
    sha = _source_hash(cand)
    writer = PartitionWriter(Path(root), lambda: f"{ingest_id}-{sha()[0][:16]}")
    try:
        commit = _read_into(cand, sha, writer, ingest_id, settings)
        files = writer.close()
    except _ParserError as e:
        writer.abort()
        return _failed(cand, str(e))
    except BaseException:
        writer.abort()
        raise
    return replace(commit, files=tuple(files))


def read_sources(cands: Sequence[Candidate], ingest_id: str, root: str,
                 settings: IngestSettings) -> list[SourceCommit]:
    """Parse a batch of sources into one set of lake files (see `plan_batches`). The files are listed
    in the first source's commit and the caller commits the batch in one transaction, so each of its
    sources is still visible entirely or not at all. When a parser fails, the batch's files are
    dropped and its sources are read again one by one (the failing one reports its error)."""
    if len(cands) == 1:
        return [read_source(cands[0], ingest_id, root, settings)]
    first = _source_hash(cands[0])
    writer = PartitionWriter(Path(root), lambda: f"{ingest_id}-{first()[0][:16]}")
    try:
        # a deferred hash starts when its source is read, not all at once
        commits = [_read_into(c, first if i == 0 else _source_hash(c), writer, ingest_id, settings)
                   for i, c in enumerate(cands)]
        files = writer.close()
    except _ParserError:
        writer.abort()
        return [read_source(c, ingest_id, root, settings) for c in cands]
    except BaseException:
        writer.abort()
        raise
    commits[0] = replace(commits[0], files=tuple(files))
    return commits


def plan_batches(todo: Sequence[Candidate], workers: int) -> list[list[Candidate]]:
    """Group sources into batches of about total / workers bytes (at least BATCH_MIN_BYTES, at most
    BATCH_MAX_BYTES), largest sources first. A Parquet file per table and source costs ~1-3 ms, and a
    table's small files are rewritten by the compaction after the ingest; a folder of small .evtx files
    written per batch makes a few files per table instead of hundreds, and no compaction work."""
    total = sum(c.size for c in todo)
    target = min(max(total // max(workers, 1), BATCH_MIN_BYTES), BATCH_MAX_BYTES)
    batches: list[list[Candidate]] = []
    cur: list[Candidate] = []
    size = 0
    for c in sorted(todo, key=lambda c: -c.size):
        if cur and (size + c.size > target or len(cur) >= BATCH_MAX_SOURCES):
            batches.append(cur)
            cur, size = [], 0
        cur.append(c)
        size += c.size
    if cur:
        batches.append(cur)
    return batches


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------
def new_ingest_id() -> str:
    return datetime.now(UTC).strftime("i%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def ingest(
    store: Store,
    paths: Sequence[str | os.PathLike[str]],
    *,
    settings: IngestSettings | None = None,
    workers: int | None = None,
    wait: float = 0.0,
    progress: Progress | None = None,
    command: str = "ingest",
) -> IngestReport:
    """Ingest files and folders into the store. Idempotent; safe to kill at any moment."""
    progress = progress or Progress()
    t0 = time.monotonic()
    refs = list(discover(paths))  # raises InputError for missing paths before anything is written
    named = {str(p) for p in paths if not Path(p).is_dir()}
    ingest_id = new_ingest_id()
    report = IngestReport(ingest_id)
    with store.writer(command, wait=wait) as w:
        fps = _fingerprints(refs, defer=True)
        # one state connection for the setup steps (each open of the state database costs ~10-40 ms)
        with store.state.hold():
            # Internal ranges always come from the store's configuration (`--internal-net`, `save_networks`), so
            # parsers (host keys of network records) and address context agree on what is internal.
            settings = replace(settings or IngestSettings(), internal_networks=configured_networks(store).cidrs)
            w.begin_ingest(ingest_id, command)
            stored = w.stored_sizes({fp[1] for fp in fps if isinstance(fp, tuple) and not fp[0]})
            known = w.known_sources(fp[0] for fp in fps if isinstance(fp, tuple) and fp[0])
        undeferred = _undefer(refs, fps, stored)
        # content hashed only now (its size is stored or repeated): one more look at the ledger
        known |= w.known_sources(fp[0] for fp, old in zip(undeferred, fps, strict=True)
                                 if isinstance(fp, tuple) and fp[0] and fp != old)
        cands, problems = _classify(refs, undeferred, named)
        todo: list[Candidate] = []
        seen: set[str] = set()
        for c in cands:
            if c.sha256 and (c.sha256 in known or c.sha256 in seen):
                report.skipped += 1
            else:
                seen.add(c.sha256)
                todo.append(c)
        report.unknown = [src for src, _pos, reason, _d in problems if reason == "unknown_format"]
        report.warnings += len(problems)
        progress.start(len(todo), sum(c.size for c in todo))
        pending = _run(w, todo, ingest_id, str(store.root), settings, workers, progress, report)
        # one state connection for the closing steps too
        with store.state.hold():
            w.record_warnings(ingest_id, problems)  # files not read (unknown format, unreadable, empty)
            w.commit_sources(ingest_id, pending)
            if report.partitions:
                report.compacted = w.compact(report.partitions).files_in
            w.finish_ingest(ingest_id, report.skipped)
            # address context learns from what was just committed (skipped when it cannot hold evidence)
            update_host_addresses(store, written={ingest_id: report.files})
    report.seconds = time.monotonic() - t0
    return report


Problem = tuple[str, int | None, str, str]  # (source, position, reason, detail)


#: (sha256 or "" when deferred, size, the format sniffed from the content's head or None when none claims it)
Fingerprint = tuple[str, int, str | None] | Exception | None


def _sniff(head: bytes, ref: SourceRef) -> str | None:
    source = detect_format(head, ref.name)
    return source.name if source is not None else None


def _fingerprint_or_error(ref: SourceRef, defer: bool = False) -> tuple[str, int, str | None] | Exception:
    """`fingerprint`, with the format sniffed here from the head, which is not kept: a 64 KB head per source
    held until every source is classified (twice when hashes were deferred) made the main process's peak
    grow with the number of sources (~30 MB for 250 large files; a folder of 100k small files holds them
    whole). With `defer`, a plain file of at least DEFER_HASH_MIN_BYTES gets only its size and format (no
    hash yet: see `_undefer`)."""
    try:
        if defer and not ref.layers:
            size = os.stat(ref.path).st_size
            if size >= DEFER_HASH_MIN_BYTES:
                head = _head(ref)
                sha = ""
            else:
                sha, size, head = fingerprint(ref)
        else:
            sha, size, head = fingerprint(ref)
    except (OSError, EOFError, ValueError) as e:
        return e
    return sha, size, _sniff(head, ref)  # outside the `try`: a sniffer that raises is a bug, not a bad file


def _fingerprints(refs: Sequence[SourceRef | Unreadable], defer: bool = False,
                  only: set[int] | None = None, prior: Sequence[Fingerprint] | None = None) -> list[Fingerprint]:
    """`fingerprint` of every readable ref (None for the others), in order, computed by a few threads:
    SHA-256 and the reads release the GIL (~4 us per EVTX record on one core, as much as the `evtx`
    package's whole parse). `only`: indices to compute, the others are taken from `prior`."""
    todo = [i for i, r in enumerate(refs) if isinstance(r, SourceRef) and (only is None or i in only)]
    threads = min(os.cpu_count() or 1, len(todo))

    def one(i: int) -> tuple[str, int, str | None] | Exception:
        ref = refs[i]
        assert isinstance(ref, SourceRef)
        return _fingerprint_or_error(ref, defer)

    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            found = dict(zip(todo, pool.map(one, todo), strict=True))
    else:
        found = {i: one(i) for i in todo}
    return [found[i] if i in found else (prior[i] if prior is not None else None) for i in range(len(refs))]


def _undefer(refs: Sequence[SourceRef | Unreadable], fps: list[Fingerprint], stored: set[int]) -> list[Fingerprint]:
    """Hash now the deferred files whose size the ledger (`stored`) or another input has: only those
    can hold content already ingested (or ingested twice in this run), which must be skipped unread."""
    sizes = Counter(fp[1] for fp in fps if isinstance(fp, tuple))
    redo = {i for i, fp in enumerate(fps) if isinstance(fp, tuple) and not fp[0]
            and (fp[1] in stored or sizes[fp[1]] > 1)}
    return _fingerprints(refs, only=redo, prior=fps) if redo else fps


def _classify(refs: Sequence[SourceRef | Unreadable], fps: Sequence[Fingerprint],
              named: set[str]) -> tuple[list[Candidate], list[Problem]]:
    cands: list[Candidate] = []
    problems: list[Problem] = []
    for ref, fp in zip(refs, fps, strict=True):
        if isinstance(ref, Unreadable):
            problems.append((ref.display, None, "unreadable", ref.detail))
            continue
        if isinstance(fp, Exception) or fp is None:
            problems.append((ref.display, None, "unreadable", f"{type(fp).__name__}: {fp}"))
            continue
        sha, size, fmt = fp
        if size == 0:
            problems.append((ref.display, None, "empty", "empty file"))
            continue
        source = SOURCES[fmt] if fmt is not None else None
        if source is None:
            if ref.path in named and not ref.layers:
                raise UnknownFormatError("unknown log format (see `aptwatch formats` for what aptwatch reads)",
                                         location=ref.display)
            problems.append((ref.display, None, "unknown_format", "no source recognises this content"))
            continue
        cands.append(Candidate(ref, size, sha, source.name))
    return cands, problems


def _run(w: StoreWriter, todo: list[Candidate], ingest_id: str, root: str, settings: IngestSettings,
         workers: int | None, progress: Progress, report: IngestReport) -> list[SourceCommit]:
    """Read every source; commit them in groups as they finish. Returns the last group, not yet committed."""
    pending: list[SourceCommit] = []
    last = time.monotonic()

    def take(commits: list[SourceCommit], cands: list[Candidate], more: bool) -> None:
        """Count a finished batch; commit the pending group when it is big or old enough and more follow."""
        nonlocal last
        for commit, cand in zip(commits, cands, strict=True):
            progress.advance(cand.ref.display, cand.size)
            if commit.events < 0:
                report.failed += 1
                w.record_warnings(ingest_id, [(commit.path, None, r, d) for _p, r, d in commit.warnings])
                report.warnings += 1
                continue
            pending.append(commit)
            report.sources += 1
            report.events += commit.events
            report.warnings += commit.warning_count
            report.by_format[commit.format] += commit.events
            for f in commit.files:
                report.by_table[f.table_name] += f.rows
                report.partitions.add((f.table_name, f.day))
                report.files.setdefault(f.table_name, []).append(f.path)
        # a batch is committed whole (its sources share files): checked after all of its commits
        if more and (len(pending) >= COMMIT_SOURCES or time.monotonic() - last > COMMIT_SECONDS):
            w.commit_sources(ingest_id, pending)
            pending.clear()
            last = time.monotonic()

    total = sum(c.size for c in todo)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers <= 1 or len(todo) <= 1 or total < PARALLEL_MIN_BYTES:
        batches = plan_batches(todo, 1)
        for i, batch in enumerate(batches):
            take(read_sources(batch, ingest_id, root, settings), batch, i + 1 < len(batches))
    else:
        batches = plan_batches(todo, n_workers)
        # imported here: the process pool machinery (multiprocessing.connection, ...) is not needed by a
        # single-worker ingest, and every `aptwatch` command would pay for its import
        from concurrent.futures import ProcessPoolExecutor

        # the workers are aptwatch's own processes: they get its process settings (runtime.py)
        with ProcessPoolExecutor(max_workers=min(n_workers, len(batches)), mp_context=worker_context(),
                                 initializer=configure_process) as pool:
            running: dict[Future[list[SourceCommit]], list[Candidate]] = {}
            while batches or running:
                while batches and len(running) < 2 * n_workers:
                    batch = batches.pop(0)
                    running[pool.submit(read_sources, batch, ingest_id, root, settings)] = batch
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    batch = running.pop(fut)
                    take(fut.result(), batch, bool(batches or running))
    return pending  # the last group: committed by the caller with the ingest's closing steps


#: modules the worker processes need, imported once by the fork server (see `worker_context`)
WORKER_PRELOAD = ["aptwatch.ingest"]


def worker_context() -> BaseContext:
    """The multiprocessing context of the parse workers: 'forkserver' with aptwatch preloaded.

    Not 'fork': the parent holds the store lock's file descriptor and may run threads (DuckDB, Arrow).
    Not 'spawn' per worker: each would start an interpreter and import pyarrow, DuckDB and every source
    (~0.5 s of CPU each). The fork server is a fresh interpreter (it inherits no file descriptor but its
    pipe) that imports once; workers fork from it in milliseconds, already warm. Where there is no fork
    server (Windows), 'spawn'.
    """
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(WORKER_PRELOAD)
    return ctx
