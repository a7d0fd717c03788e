"""What a log source (parser) is, and what it is given.

A source is one module with one class: a unique `name`, a `sniff(head, name)` that says
from the first bytes of the (decompressed) content whether it can read it, and a
`read(ctx)` generator of `TableBatch` and `IngestWarning`. Register it with one line in
`aptwatch/sources/__init__.py`. Sniffing looks at content, never only at the file name:
the name is a hint for tie-breaking.

Parsers never raise on bad input: a bad record becomes an `IngestWarning` and reading
goes on; a file that cannot be read at all becomes one warning. Exceptions are for bugs.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import tarfile
import tempfile
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar

from aptwatch.model.records import IngestWarning, TableBatch

#: bytes given to sniff()
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class IngestSettings:
    """Knobs parsers may need; passed in, never global."""

    #: networks counted as internal (address context); default RFC 1918, RFC 4193, link-local, loopback
    internal_networks: tuple[str, ...] = (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "fc00::/7", "fe80::/10", "::1/128",
    )
    #: year for year-less syslog timestamps when the file gives no better clue (None: infer)
    default_year: int | None = None
    #: time zone name for sources that log local time without an offset
    local_timezone: str = "UTC"
    #: rows per batch handed to the store
    batch_rows: int = 50_000
    #: cap of stored warnings per source and reason (all are still counted)
    max_warnings_per_reason: int = 1_000


# --------------------------------------------------------------------------------------
# Source references: a plain file, or a member inside (possibly nested) archives
# --------------------------------------------------------------------------------------
ARCHIVE_KINDS = ("zip", "tar", "gzip", "bzip2", "xz")


def archive_kind(head: bytes) -> str | None:
    """Archive / compression kind from magic bytes, or None for plain content."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    return None


@dataclass(frozen=True)
class Layer:
    """One step into an archive: `kind` of the container, `member` name inside it ('' for streams)."""

    kind: str
    member: str = ""


@dataclass(frozen=True)
class SourceRef:
    """Where content comes from: a file path plus zero or more archive layers."""

    path: str
    layers: tuple[Layer, ...] = ()

    @property
    def display(self) -> str:
        """Source name stored with events: the path as given, with '!member' per archive layer."""
        out = self.path
        for layer in self.layers:
            if layer.member:
                out += "!" + layer.member
        return out

    @property
    def name(self) -> str:
        """Innermost file name (a hint for sniffing)."""
        name = self.path
        for layer in self.layers:
            name = layer.member or _strip_compression_suffix(name)
        return os.path.basename(name)

    def open(self) -> IO[bytes]:
        """A fresh binary stream of the content (decompressed). Caller closes it."""
        f: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        try:
            for layer in self.layers:
                f = _open_layer(f, layer)
        except BaseException:
            f.close()
            raise
        return f


def _strip_compression_suffix(name: str) -> str:
    for suffix in (".gz", ".gzip", ".bz2", ".xz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    if name.lower().endswith(".tgz"):
        return name[:-4] + ".tar"
    return name


class _Closing(io.RawIOBase):
    """A readable stream that closes its parent container when closed."""

    def __init__(self, inner: IO[bytes], *parents: object) -> None:
        self._inner = inner
        self._parents = parents

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
            for p in self._parents:
                close = getattr(p, "close", None)
                if close:
                    close()
        super().close()


def _open_layer(f: IO[bytes], layer: Layer) -> IO[bytes]:
    if layer.kind == "gzip":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if layer.kind == "bzip2":
        return bz2.BZ2File(f, "rb")
    if layer.kind == "xz":
        return lzma.LZMAFile(f, "rb")
    if layer.kind == "zip":
        zf = zipfile.ZipFile(f)
        return _Closing(zf.open(layer.member), zf, f)  # type: ignore[return-value]
    if layer.kind == "tar":
        tf = tarfile.open(fileobj=f, mode="r:")  # noqa: SIM115 - closed by _Closing
        member = tf.extractfile(layer.member)
        if member is None:
            raise OSError(f"tar member {layer.member} is not a regular file")
        return _Closing(member, tf, f)  # type: ignore[return-value]
    raise ValueError(f"unknown archive layer {layer.kind}")


# --------------------------------------------------------------------------------------
# What a parser gets
# --------------------------------------------------------------------------------------
@dataclass
class ReadContext:
    """Everything `Source.read` may use. One per source, per worker."""

    ref: SourceRef
    sha256: str
    size: int
    settings: IngestSettings = field(default_factory=IngestSettings)
    _tmpdir: str | None = None

    @property
    def display(self) -> str:
        return self.ref.display

    def open(self) -> IO[bytes]:
        """A fresh decompressed binary stream of the content."""
        return self.ref.open()

    def local_path(self) -> str:
        """A real file holding the content (extracted to a temp file for archive members)."""
        if not self.ref.layers:
            return self.ref.path
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="aptwatch-src-")
        target = os.path.join(self._tmpdir, "content" + Path(self.ref.name).suffix)
        if not os.path.exists(target):
            with self.open() as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        return target

    def cleanup(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


class Source(ABC):
    """A log format. Subclasses set `name`, `description`, and maybe `priority`."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: sniffing order: lower first. Specific formats 10-40, broad ones 50-80, catch-alls 90+.
    priority: ClassVar[int] = 50
    #: the Sigma log source `product` whose logs this format holds (windows, linux, zeek, ...), or None for
    #: formats that carry any product's events (generic JSON lines, alert and flow exports): Sigma rules of
    #: another known product never run over this format's events (detect/sigma/pipeline.py, product_scope)
    product: ClassVar[str | None] = None

    @abstractmethod
    def sniff(self, head: bytes, name: str) -> bool:
        """True when this source can read content starting with `head` (file `name` is a hint)."""

    @abstractmethod
    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        """Yield batches of events and warnings; never raise on bad input."""


def first_lines(head: bytes, n: int = 5) -> list[bytes]:
    """Up to n complete non-empty lines of a head buffer (the last partial line dropped)."""
    lines = head.split(b"\n")
    if len(head) >= HEAD_BYTES and lines:
        lines = lines[:-1]
    out = [ln.strip() for ln in lines if ln.strip()]
    return out[:n]
