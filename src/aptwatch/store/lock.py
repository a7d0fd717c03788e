"""The store's single-writer lock.

One process writes a store at a time. The lock is an advisory `flock` on `<store>/lock`,
released by the kernel when the holder dies (even by SIGKILL), so a crash never leaves a
stale lock. A second writer waits up to `wait` seconds, then fails with a clear
`StoreBusyError` naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from aptwatch.errors import StoreBusyError


class StoreLock:
    def __init__(self, path: Path, purpose: str) -> None:
        self.path = path
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(wait, 0.0)
        delay = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder(fd)
                    os.close(fd)
                    raise StoreBusyError(
                        f"store is busy: {holder}; try again when it finishes, or pass --wait SECONDS",
                        location=str(self.path.parent)) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        os.ftruncate(fd, 0)
        info = f"pid {os.getpid()} ({self.purpose}) since {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        os.pwrite(fd, info.encode(), 0)
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        return f"held by {text}" if text else "held by another process"

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
