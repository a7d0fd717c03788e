"""JSON records from a stream, whatever the layout: lines, one array, or concatenated documents.

Windows events leave SIEMs and tools in three JSON layouts: JSON lines (winlogbeat, NXLog,
OTRF), a single array (Azure Log Analytics / Sentinel exports, `chainsaw dump --json`,
PowerShell `ConvertTo-Json`), and documents one after the other, pretty-printed or with text
between them (`evtx_dump` prints "Record N" before each). PowerShell 5 writes UTF-16.

`iter_records` yields `(record, raw_text, obj)` per record, `record` being the line number
for JSON lines and the element / document index (1-based) otherwise, and an
`IngestWarning` for what cannot be read. Arrays and documents are streamed with the
standard library's `json.JSONDecoder.raw_decode`, which returns where each value ends:
that gives the exact original text of each record for `raw` with memory bounded by the
largest record (orjson has no incremental mode; DuckDB's read_json would lose the text).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import IO, Any

import orjson

from aptwatch.model.records import IngestWarning
from aptwatch.sources.lines import iter_line_chunks

BLOCK_CHARS = 4 << 20
#: a single record larger than this is not buffered further (a corrupt file without a closing brace)
MAX_RECORD_CHARS = 256 << 20

Record = tuple[int, str, Any]


def encoding_of(head: bytes) -> str:
    """'utf-16-le' / 'utf-16-be' by BOM (or by NUL pattern), else 'utf-8'."""
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le"
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] != 0:
        return "utf-16-be"
    return "utf-8"


def head_text(head: bytes) -> str:
    """The head decoded (BOM removed, a cut last character dropped) for sniffing."""
    enc = encoding_of(head)
    text = head.decode(enc, "ignore")
    return text.lstrip("\ufeff")


def layout_of(text: str) -> str:
    """'lines' when the first line is a whole JSON value; 'array' for '['; else 'documents'."""
    s = text.lstrip()
    if s.startswith("["):
        return "array"
    first = s.split("\n", 1)[0].strip()
    if first.startswith("{"):
        try:
            orjson.loads(first)
            return "lines"
        except orjson.JSONDecodeError:
            pass
    return "documents"


def first_objects(head: bytes, n: int = 3) -> list[Any]:
    """Up to n complete records at the start of `head` (for sniffing), in any layout."""
    text = head_text(head)
    out: list[Any] = []
    for item in _scan_text(iter([text]), layout_of(text), final=False):
        if isinstance(item, IngestWarning):
            break
        out.append(item[2])
        if len(out) >= n:
            break
    return out


def iter_records(stream: IO[bytes]) -> Iterator[Record | IngestWarning]:
    """Every JSON record of the stream (see the module doc)."""
    head = stream.read(64 * 1024)
    enc = encoding_of(head)
    text_head = head.decode(enc, "ignore").lstrip("\ufeff") if enc != "utf-8" else head_text(head)
    layout = layout_of(text_head)
    if layout == "lines" and enc == "utf-8":
        yield from _lines(_Rewound(head, stream))
        return
    yield from _scan_text(_text_blocks(head, stream, enc), layout, final=True)


class _Rewound:
    """A stream with its already-read head put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            if n < 0:
                return out + self._rest.read()
            return out if len(out) >= n else out + self._rest.read(n - len(out))
        return self._rest.read(n)


def _lines(stream: Any) -> Iterator[Record | IngestWarning]:
    loads = orjson.loads
    for chunk in iter_line_chunks(stream):
        yield from chunk.warnings
        number = chunk.first_line
        for line in chunk.lines.to_pylist():
            if line and not line.isspace():
                s = line.lstrip("\ufeff") if number == 1 else line
                try:
                    yield number, s, loads(s)
                except orjson.JSONDecodeError as e:
                    yield IngestWarning("bad_json", f"{e}: " + IngestWarning.excerpt(s), number)
            number += 1


def _text_blocks(head: bytes, stream: IO[bytes], enc: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(enc)(errors="replace")
    first = True
    block = head
    while True:
        eof = not block
        text = decoder.decode(block, final=eof)
        if first:
            text = text.lstrip("\ufeff")
            first = False
        if text:
            yield text
        if eof:
            return
        block = stream.read(1 << 22)


_WS = " \t\r\n"


def _scan_text(blocks: Iterator[str], layout: str, *, final: bool) -> Iterator[Record | IngestWarning]:
    """Values of an array / a sequence of documents, from text blocks. `final=False` (sniffing):
    stop quietly at the end of the text instead of reporting a cut record."""
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    eof = False
    index = 0
    in_array = layout == "array"
    opened = not in_array  # the '[' of an array is consumed first
    indent: str | None = None  # how the first element starts a line (for resync)

    def more() -> bool:
        nonlocal buf, pos, eof
        try:
            block = next(blocks)
        except StopIteration:
            eof = True
            return False
        buf = buf[pos:] + block
        pos = 0
        return True

    while True:
        # skip separators: whitespace, and commas inside an array; text between documents
        while True:
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            if pos >= len(buf):
                if eof or not more():
                    if in_array and opened and final:
                        yield IngestWarning("truncated", "the JSON array ends without ']' (file cut short?)",
                                            index + 1)
                    return
                continue
            c = buf[pos]
            if not opened:
                if c == "[":
                    opened = True
                    pos += 1
                    continue
                in_array = False  # not an array after all: documents
                opened = True
                continue
            if in_array and c == ",":
                pos += 1
                continue
            if in_array and c == "]":
                rest = buf[pos + 1 :].strip()
                if rest and final:
                    yield IngestWarning("trailing_data", "text after the closing ']': "
                                        + IngestWarning.excerpt(rest), index + 1)
                return
            if c in "{[" or in_array:
                break
            # text between documents ("Record 12" lines of evtx_dump): skip the line
            nl = buf.find("\n", pos)
            if nl < 0:
                if eof or not more():
                    return
                continue
            pos = nl + 1
        start = pos
        if indent is None:
            line_start = buf.rfind("\n", 0, start) + 1
            indent = buf[line_start:start] if buf[line_start:start].isspace() or line_start == start else None
        try:
            obj, end = decoder.raw_decode(buf, start)
        except json.JSONDecodeError as e:
            nxt = _resync(buf, start + 1, indent) if indent is not None else len(buf)
            if nxt >= len(buf) and _unterminated(buf, start):  # the text ran out inside the record
                if len(buf) - start < MAX_RECORD_CHARS and not eof and more():
                    continue  # it goes on in the next block
                if eof:
                    if final:
                        yield IngestWarning("truncated", f"record {index + 1} is cut short: "
                                            + IngestWarning.excerpt(buf[start : start + 200]), index + 1)
                    return
            # garbage inside the record (the next record starts before it would end): skip to the next
            index += 1
            if final:
                yield IngestWarning("bad_json", f"record {index}: {e.msg} at char {e.pos - start}: "
                                    + IngestWarning.excerpt(buf[start : start + 200]), index)
            pos = _resync(buf, start + 1, indent)
            continue
        index += 1
        yield index, buf[start:end], obj
        pos = end
        if pos > BLOCK_CHARS:
            buf = buf[pos:]
            pos = 0


def _unterminated(buf: str, start: int) -> bool:
    """True when the text from `start` never closes its outermost brace (a cut, not garbage)."""
    depth = 0
    in_str = False
    esc = False
    for ch in buf[start:]:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return False
    return True


def _resync(buf: str, pos: int, indent: str | None) -> int:
    """Where the next record probably starts after a bad one: the next line that begins with '{'
    at the indentation of the first record (any '{' at a line start if unknown)."""
    marker = "\n" + (indent or "") + "{"
    found = buf.find(marker, pos)
    if found < 0 and indent is None:
        found = buf.find("{", pos) - 1
    return len(buf) if found < 0 else found + 1
