"""What airpy reads off the first 64 KB of a CSV file before DuckDB reads it.

- The delimiter: DuckDB's own sniffer gives up on (or mis-reads) files with a ragged row;
  choosing it here lets DuckDB report such rows by line instead.
- Columns to read as text: DuckDB's sniffer can settle on one date format for a column whose
  values mix several (`2024-03-01` and `01/03/2024`) and then fail the whole read on the first
  value of the other format. Such a column is read as text, and InferSchema reports it as
  MIXED_DATE_FORMATS.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from airpy.data.formats import Compression
from airpy.data.hints import DATE_FORMATS, detect_date_formats, parses
from airpy.data.listing import Listed
from airpy.objectstore import open_input

DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 64 * 1024
# Lines weighed for the delimiter; distinct values per column weighed for date formats.
_DELIMITER_LINES = 50
_DATE_VALUES = 500
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
}


@dataclass(frozen=True)
class Sniffed:
    delimiter: str
    text_columns: tuple[str, ...] = ()


def sniff_text(item: Listed, *, encoding: str = "", header: bool | None = None, delimiter: str = "") -> Sniffed:
    """The delimiter (the one that splits the first lines most consistently into more than one
    field, unless `delimiter` is given) and the columns to read as text."""
    lines = _first_lines(item, encoding)
    if lines is None:
        return Sniffed(delimiter or ",")  # unreadable: the reader reports it properly
    chosen = delimiter or _delimiter(lines[:_DELIMITER_LINES])
    return Sniffed(chosen, () if header is False else _mixed_date_columns(lines, chosen, header is True))


def _first_lines(item: Listed, encoding: str) -> list[str] | None:
    try:
        with open_input(item.path) as raw:
            stream = (
                raw
                if item.kind.compression is Compression.NONE
                else pa.CompressedInputStream(raw, item.kind.compression.value)
            )
            sample: bytes = stream.read(SNIFF_BYTES)
    except (OSError, pa.ArrowException):
        return None
    decoded = sample.decode(ENCODINGS.get(encoding.lower(), "utf-8") if encoding else "utf-8", errors="replace")
    text = decoded.lstrip("\ufeff")
    cut = text.rfind("\n")
    return (text[:cut] if cut > 0 else text).splitlines()


def _delimiter(lines: list[str]) -> str:
    best, best_score = ",", 0.0
    for candidate in DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=candidate)]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        if width < 2:
            continue
        score = count / len(widths) + width / 1000  # consistency first, then more fields
        if score > best_score:
            best, best_score = candidate, score
    return best


def _mixed_date_columns(lines: list[str], delimiter: str, has_header: bool) -> tuple[str, ...]:
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    except csv.Error:
        return ()
    if len(rows) < 3:
        return ()
    header, body = rows[0], rows[1:]
    names = [n.strip() for n in header]
    mixed = []
    for j, name in enumerate(header):
        first = names[j]
        if not has_header and any(parses(first, f) for f in DATE_FORMATS):
            return ()  # the first row is data: DuckDB names the columns itself
        if not first or names.count(first) > 1 or first != name:
            continue  # DuckDB names such a column itself (column3, date_1): it cannot be named here
        values = list(dict.fromkeys(r[j].strip() for r in body if j < len(r) and r[j].strip()))[:_DATE_VALUES]
        if not values or not any(parses(values[0], f) for f in DATE_FORMATS):
            continue
        if _families(detect_date_formats(values)) > 1:
            mixed.append(name)
    return tuple(mixed)


def _families(formats: list[str]) -> int:
    """Date formats the engine cannot read as one: ISO 8601 layouts (a date, with a time, with
    `T` or a space, fractions, an offset) are one family, which DuckDB reads as TIMESTAMP."""
    iso = [f for f in formats if f.startswith("%Y-%m-%d")]
    return len(formats) - len(iso) + (1 if iso else 0)
