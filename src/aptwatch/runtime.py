"""Process-wide settings that aptwatch's own processes apply at start: its CLI and the ingest workers.

Library code never calls this on its own: an application embedding aptwatch keeps its process as it
configured it. The CLI and the worker processes ingest starts call `configure_process()` first.

Arrow memory pool: jemalloc where the pyarrow build has it, unless the user chose one with Arrow's own
`ARROW_DEFAULT_MEMORY_POOL`. Measured (docs/benchmarks.md, JSON-lines ingest): with pyarrow's default
mimalloc, the system time of a 1M-record ingest varied between 0.4 and 1.3 s from run to run (wall
1.37-1.96 s) on a Linux VM whose transparent huge pages are `madvise` with direct compaction: the
same page-fault count, each fault costing more when the page cache must be compacted for huge
pages. jemalloc gave 0.56-0.63 s every run (wall 1.50-1.56 s) and a lower peak RSS.

Measured and not kept: letting that jemalloc keep freed pages (`JE_ARROW_MALLOC_CONF=dirty_decay_ms:-1,
muzzy_decay_ms:-1`, which must be set before pyarrow loads; Arrow returns them at once) cut a
4M-record JSON-lines ingest from 470k to 195k page faults (wall 4.7 -> 4.3 s), but the peak RSS of an
EVTX ingest then grew with the input (10x: 423 -> 695 MB, the main process 301 -> 469 MB). A finite
decay (5-30 s) changed nothing.
"""

from __future__ import annotations

import os

#: Arrow's own environment variable: when the user set it, their choice stands
ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
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
