"""Process-wide settings that aptwatch's own processes apply at start: its CLI and the ingest workers.

Library code never calls this on its own: an application embedding aptwatch keeps its process as it
configured it. The console script (`cli/launch.py`) calls `prepare_environment()` before anything loads
pyarrow, and the CLI and the worker processes ingest starts call `configure_process()` first.

Arrow memory pool: jemalloc where the pyarrow build has it, unless the user chose one with Arrow's own
`ARROW_DEFAULT_MEMORY_POOL`. Measured (docs/benchmarks.md, JSON-lines ingest): with pyarrow's default
mimalloc, the system time of a 1M-record ingest varied between 0.4 and 1.3 s from run to run (wall
1.37-1.96 s) on a Linux VM whose transparent huge pages are `madvise` with direct compaction: the
same page-fault count, each fault costing more when the page cache must be compacted for huge
pages. jemalloc gave 0.56-0.63 s every run (wall 1.50-1.56 s) and a lower peak RSS.
"""

from __future__ import annotations

import os
import sys

#: Arrow's own environment variable: when the user set it, their choice stands
ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
#: options of the jemalloc inside pyarrow, read once when pyarrow loads (a user's own value stands)
JEMALLOC_CONF_ENV = "JE_ARROW_MALLOC_CONF"
#: Arrow sets jemalloc to give freed pages back to the OS at once, so every batch of a stream faults its
#: memory in again (zeroed pages). Keeping them (no decay): a 4M-record JSON-lines ingest 470k -> 195k
#: page faults, system time 1.65 -> 1.05 s, wall 4.7 -> 4.3 s, peak RSS +80 MB. A finite decay (5-30 s)
#: changed nothing. aptwatch's processes are commands that end; the pages go back when they do.
JEMALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def prepare_environment() -> None:
    """Environment of aptwatch's own processes, set before pyarrow loads (it reads it only then); the
    ingest workers inherit it. Does nothing once pyarrow is loaded, or where the user set the variable."""
    if "pyarrow" in sys.modules:
        return
    os.environ.setdefault(JEMALLOC_CONF_ENV, JEMALLOC_CONF)


def configure_process() -> None:
    """Apply aptwatch's process settings (idempotent)."""
    if os.environ.get(ARROW_POOL_ENV):
        return
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a build without jemalloc (e.g. Windows): Arrow's default
        return
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)
