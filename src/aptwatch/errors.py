"""One exception tree for everything a user can cause.

`AptwatchError` and its subclasses are *user-facing*: the CLI prints their message on one
line and exits with their `exit_code`, never a traceback. Anything else that escapes is a
bug in aptwatch and is allowed to raise with its traceback.

Bad *records* inside a log are not exceptions at all: parsers turn them into stored,
counted warnings (see `aptwatch.model.records.IngestWarning`).
"""

from __future__ import annotations


class AptwatchError(Exception):
    """Base for errors the user can fix; carries an exit code and an optional location."""

    exit_code = 1

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location:
            return f"{self.location}: {self.message}"
        return self.message


class InputError(AptwatchError):
    """A path is missing, unreadable, or not in any format aptwatch knows."""

    exit_code = 3


class UnknownFormatError(InputError):
    """No registered source recognises the content of a file the user named."""


class StoreError(AptwatchError):
    """The store directory is not a store, or is damaged beyond automatic recovery."""

    exit_code = 4


class StoreBusyError(StoreError):
    """Another process holds the store's write lock (or its state database)."""

    exit_code = 5


class QueryError(AptwatchError):
    """A hunter's SQL is not read-only or does not run."""

    exit_code = 6


class RuleError(AptwatchError):
    """A detection rule or rule file cannot be used; carries the rule's location."""

    exit_code = 7


class RegistryError(Exception):
    """Programming error: a registry got a duplicate or malformed entry (not user-facing)."""
