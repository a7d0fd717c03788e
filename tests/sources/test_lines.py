"""Line splitting: property test against Python's own splitting."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from aptwatch.sources.lines import iter_line_chunks


def split_all(data: bytes, chunk: int) -> tuple[list[str], list[int]]:
    lines: list[str] = []
    numbers: list[int] = []
    for c in iter_line_chunks(io.BytesIO(data), chunk_bytes=chunk):
        lines += c.lines.to_pylist()
        numbers += c.line_numbers.to_pylist()
    return lines, numbers


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
                        max_size=30), max_size=40),
       st.booleans(), st.booleans(), st.integers(min_value=1, max_value=64))
def test_lines_match_python(lines: list[str], trailing_newline: bool, crlf: bool, chunk: int) -> None:
    sep = "\r\n" if crlf else "\n"
    text = sep.join(lines) + (sep if trailing_newline and lines else "")
    got, numbers = split_all(text.encode(), chunk)
    expected = text.split(sep)
    if text.endswith(sep):
        expected = expected[:-1]
    if not text:
        expected = []
    assert got == expected
    assert numbers == list(range(1, len(expected) + 1))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_any_bytes_never_raise_and_keep_line_count(data: bytes, chunk: int) -> None:
    got, numbers = split_all(data, chunk)
    expected = data.split(b"\n")
    if data.endswith(b"\n"):
        expected = expected[:-1]
    if not data:
        expected = []
    assert len(got) == len(expected) == len(numbers)


def test_invalid_utf8_is_replaced_with_a_warning() -> None:
    chunks = list(iter_line_chunks(io.BytesIO(b"ok\nbad \xff here\nok2\n")))
    assert chunks[0].lines.to_pylist() == ["ok", "bad \ufffd here", "ok2"]
    assert [(w.reason, w.position) for w in chunks[0].warnings] == [("bad_encoding", 2)]


class _ReadOnly:
    """A stream with `read` only, returning short reads (like some decompressors and sockets)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, n: int = -1) -> bytes:
        block, self._data = self._data[: min(n, 3)], self._data[min(n, 3):]
        return block


def test_reused_buffer_streams_without_readinto_and_chunks_own_their_memory() -> None:
    data = b"first line\n" + b"x" * 50 + b"\nlast"
    chunks = list(iter_line_chunks(_ReadOnly(data), chunk_bytes=8))  # type: ignore[arg-type]
    assert [ln for c in chunks for ln in c.lines.to_pylist()] == ["first line", "x" * 50, "last"]
    # chunks yielded earlier keep their lines after the buffer was reused for later reads
    kept = list(iter_line_chunks(io.BytesIO(b"".join(b"line %d\n" % i for i in range(500))), chunk_bytes=64))
    assert [ln for c in kept for ln in c.lines.to_pylist()] == [f"line {i}" for i in range(500)]
    assert [c.offset for c in kept][:2] == [0, 63]
