"""Digests of everything the Linux text sources produce: every row (every column, including `data`
and `raw`) and every warning, per input, for the real Linux files in ../shared/data (OTRF audit
logs, the Log4Shell AUOMS and Sysmon-for-Linux syslog exports) and for inputs built from the
tests' own fixtures: the golden samples, replicated files as the benchmark builds them, random
cuts and byte flips of each sample (fixed seeds), and the attacker-shaped long lines.

tests/sources/data/linux_golden.tsv holds the digests produced by the reference implementation
(the code before the speed work of docs/benchmarks.md "Ingest: Linux text sources"); a test
recomputes them, so a change to any stored value of any row fails loudly and names the input.

    python -m tests.sources.linuxdigest > tests/sources/data/linux_golden.tsv

rewrites the file (only when a change of stored values is intended; say why in the commit).
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.ingest import discover, fingerprint
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources import SOURCES, detect_format
from aptwatch.sources.base import IngestSettings, ReadContext, SourceRef

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("APTWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
GOLDEN = Path(__file__).parent / "data" / "linux_golden.tsv"
LINUX_FORMATS = frozenset({"auditd", "authlog", "sysmon_linux", "la_syslog"})
#: year-less timestamps must not depend on when the test runs (files written now have today's mtime)
SETTINGS = IngestSettings(default_year=2023, batch_rows=1000)


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def digest_items(items: Iterator[TableBatch | IngestWarning]) -> tuple[int, str]:
    """(rows, digest) of a source's output: rows per table sorted by record (null columns left out:
    the store cannot tell a missing column from a null one), then the warnings."""
    tables: dict[str, list[pa.Table]] = {}
    warns: list[tuple[str, str, int | None]] = []
    for item in items:
        if isinstance(item, TableBatch):
            tables.setdefault(item.table, []).append(item.data)
        else:
            warns.append((item.reason, item.detail, item.position))
    h = hashlib.sha256()
    events = 0
    for name in sorted(tables):
        t = pa.concat_tables(tables[name], promote_options="permissive")
        events += t.num_rows
        rows = [sorted((k, _plain(v)) for k, v in r.items() if v is not None) for r in t.to_pylist()]
        # rows of one record (none so far) keep a stable order by their content
        for row in sorted(rows, key=lambda r: (dict(r)["record"], orjson.dumps(r))):
            h.update(orjson.dumps([name, row]))
    h.update(orjson.dumps(sorted(warns, key=lambda w: (-1 if w[2] is None else w[2], w[0], w[1]))))
    return events, h.hexdigest()[:32]


def digest_file(path: Path, source: str | None = None) -> tuple[str, int, str]:
    """(source name, rows, digest) of one file, read by `source` or the sniffed source."""
    ref = SourceRef(str(path))
    sha, size, head = fingerprint(ref)
    if source is None:
        src = detect_format(head, ref.name)
        source = src.name if src is not None else "?"
    if source not in SOURCES:
        return source, 0, "-"
    ctx = ReadContext(ref, sha, size, SETTINGS)
    try:
        events, dig = digest_items(SOURCES[source].read(ctx))
    finally:
        ctx.cleanup()
    return source, events, dig


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------
def shared_inputs() -> Iterator[tuple[str, Path]]:
    """Every Linux text file of otrf-atomic/linux and otrf-compound/Log4Shell."""
    for ref in discover([SHARED / "otrf-atomic" / "linux", SHARED / "otrf-compound" / "Log4Shell"]):
        if not isinstance(ref, SourceRef) or ref.layers:
            continue
        _sha, _size, head = fingerprint(ref)
        src = detect_format(head, ref.name)
        if src is not None and src.name in LINUX_FORMATS:
            yield os.path.relpath(ref.display, SHARED), Path(ref.path)


def _samples() -> dict[str, tuple[str, bytes]]:
    """The tests' own golden samples: name -> (source, content)."""
    from tests.sources.test_auditd import GS, RAW_LOG
    from tests.sources.test_authlog import AUTH_LOG
    from tests.sources.test_sysmon_linux import LINES

    sysmon = "\n".join(LINES) + "\n"
    wrapped = "".join(f"Nov 14 22:13:{i % 60:02d} web02 audispd: node=web02.corp {ln}\n"
                      for i, ln in enumerate(RAW_LOG.split("\n")) if ln)
    mixed = "".join(a + b for a, b in zip(AUTH_LOG.splitlines(True), (wrapped + sysmon).splitlines(True) * 3,
                                          strict=False))
    iso = ("2024-01-02T03:04:05.123456+02:00 web01 sshd[1]: Accepted password for bob from 10.0.0.1 port 22 ssh2\n"
           "<38>1 2024-01-02T03:04:06.003Z web01 sshd 2 ID47 [ex@1 a=\"b\\]\"] Failed password for root from "
           "10.0.0.2 port 23 ssh2\n<86>Jan  2 03:04:07 web01 su[3]: FAILED SU (to root) eve on pts/1\n"
           "Feb 30 10:00:00 web01 sshd[4]: Invalid user x from 10.0.0.3\nno header at all\n\n"
           f"type=SOCKADDR msg=audit(1.5:9): saddr=0A000016000000002001 0db8000000000000000000000001 00000000{GS}\n")
    return {
        "auditd-raw": ("auditd", RAW_LOG.encode()),
        "auditd-reversed": ("auditd", "".join(reversed(RAW_LOG.splitlines(True))).encode()),
        "auditd-in-syslog": ("authlog", wrapped.encode()),
        "authlog": ("authlog", AUTH_LOG.encode()),
        "authlog-crlf": ("authlog", AUTH_LOG.replace("\n", "\r\n").encode()),
        "authlog-other-headers": ("authlog", iso.encode()),
        "sysmon": ("sysmon_linux", sysmon.encode()),
        "mixed-syslog": ("authlog", mixed.encode()),
    }


def _garbled(data: bytes, seed: int) -> bytes:
    """A cut at a random offset, or random bytes flipped / inserted (invalid UTF-8, NUL, newlines)."""
    rnd = random.Random(seed)
    if seed % 2 == 0:
        return data[: rnd.randrange(1, len(data))]
    out = bytearray(data)
    for _ in range(1 + seed % 7):
        i = rnd.randrange(len(out))
        out[i : i + 1] = rnd.choice([b"\xff", b"\x00", b"\n", b"'", b'"', b"=", b"{", b"\xc3", b" ", b"<", b"\x1d"])
    return bytes(out)


def _replicated(work: Path) -> Iterator[tuple[str, str, Path]]:
    """Files as the benchmark builds them (real records with shifted times and serials), small."""
    sys.path.insert(0, str(REPO / "bench"))
    import ingest_linux  # type: ignore[import-not-found]

    for name, gen, n, source in (("audit.log", ingest_linux.gen_audit, 6000, "auditd"),
                                 ("auth.log", ingest_linux.gen_auth, 3000, "authlog"),
                                 ("sysmon-syslog", ingest_linux.gen_sysmon, 400, "sysmon_linux")):
        path = work / f"replicated-{name}"
        try:
            gen(str(path), n)
        except SystemExit:  # the real records it replicates are absent
            continue
        yield f"replicated/{name}", source, path


def fixture_inputs(work: Path) -> Iterator[tuple[str, str, Path]]:
    """(name, source, file) of every fixture input, written under `work`."""
    from tests.sources.test_linux_adversarial import CASES

    for name, (source, content) in _samples().items():
        p = work / name
        p.write_bytes(content)
        yield f"fixture/{name}", source, p
        for seed in range(12):
            g = work / f"{name}-garbled-{seed}"
            g.write_bytes(_garbled(content, seed * 7919 + len(name)))
            yield f"fixture/{name}/garbled-{seed}", source, g
    for case, (src, text) in sorted(CASES.items()):
        p = work / ("adversarial-" + case.replace(" ", "_").replace("=", "eq"))
        p.write_bytes(text[:20_000].encode())
        yield f"adversarial/{case}", src.name, p
    yield from _replicated(work)


def digest_all(with_shared: bool = True) -> Iterator[tuple[str, str, int, str]]:
    """(input, source, rows, digest) of every input."""
    if with_shared:
        for name, path in shared_inputs():
            yield (name, *digest_file(path))
    with tempfile.TemporaryDirectory(prefix="aptwatch-linuxdigest-") as tmp:
        for name, source, path in fixture_inputs(Path(tmp)):
            yield (name, *digest_file(path, source))


def read_golden() -> dict[str, tuple[str, int, str]]:
    out: dict[str, tuple[str, int, str]] = {}
    for line in GOLDEN.read_text().splitlines():
        if line and not line.startswith("#"):
            path, fmt, events, dig = line.split("\t")
            out[path] = (fmt, int(events), dig)
    return out


def main() -> None:
    sys.stdout.write("# input\tsource\trows\tdigest (tests/sources/linuxdigest.py)\n")
    for name, src, events, dig in digest_all():
        sys.stdout.write(f"{name}\t{src}\t{events}\t{dig}\n")


if __name__ == "__main__":
    main()
