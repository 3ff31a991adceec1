"""Reading an uploaded CSV of accounts: encoding, delimiter, header, lines.

Excel writes "CSV UTF-8" with a byte-order mark and, in many locales, ';' between columns, so
both delimiters are accepted; which one is read off the header line (csv.Sniffer guesses from
data and misreads a file whose names contain commas). Anything but UTF-8 is refused with the
line where decoding failed, rather than guessed.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _csv import Reader

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_LINES = 10_000

# Canonical column -> what the header may call it (compared lower-case, "_" for spaces).
COLUMNS: dict[str, tuple[str, ...]] = {
    "address": ("address", "email", "e_mail", "email_address", "local_part", "localpart"),
    "first_name": ("first_name", "firstname", "given_name", "name"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "quota": ("quota", "storage", "quota_bytes"),
    "services": ("services", "service"),
    "forward_to": ("forward_to", "forwards", "forward", "forwarding"),
    "password": ("password",),
}
TEMPLATE_HEADER = list(COLUMNS)
_ALIASES = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}


@dataclass(frozen=True)
class Problem:
    line: int  # 0: the whole file
    column: str  # "" when the line as a whole is wrong
    message: str

    @property
    def text(self) -> str:
        if not self.line:
            return self.message
        where = f"Line {self.line}" + (f", column “{self.column}”" if self.column else "")
        return f"{where}: {self.message}"

    def as_json(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "message": self.message,
                "text": self.text}  # fmt: skip


@dataclass(frozen=True)
class Line:
    number: int  # in the file, the header being line 1
    cells: dict[str, str]  # canonical column -> stripped text


class FileRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(0, "", message)


def read_lines(data: bytes) -> list[Line | Problem]:
    """The file's data lines, each a Line or a Problem with that line as a whole.
    Raises FileRejected when nothing of the file can be read."""
    text = _decode(data)
    header_number, header_text = _header_line(text)
    delimiter = _delimiter(header_text, header_number)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = _columns(next(reader), header_number)
        return list(_data_lines(reader, header, header_number))
    except csv.Error as exc:
        raise FileRejected(f"Line {reader.line_num}: the file is not valid CSV ({exc}).") from exc


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected(
            "Line 1: the file is UTF-16 text. Save it as “CSV UTF-8 (comma delimited)”."
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileRejected(
            f"Line {line} is not UTF-8 text (byte {data[exc.start]:#04x}). Save the file as "
            "“CSV UTF-8 (comma delimited)”; other encodings are not accepted."
        ) from exc
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise FileRejected(f"Line {line} holds a NUL character: this is not a CSV text file.")
    return text


def _header_line(text: str) -> tuple[int, str]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if number != 1:
                break  # blank lines before the header: refuse, the numbering would confuse
            return number, line
    raise FileRejected("The file is empty: its first line must name the columns.")


def _delimiter(header: str, number: int) -> str:
    counts = {d: header.count(d) for d in (",", ";")}
    if not any(counts.values()):
        if "\t" in header:
            raise FileRejected(f"Line {number}: the columns are separated by tabs; use ',' or ';'.")
        return ","  # a file of one column (addresses only)
    return max(counts, key=lambda d: counts[d])


def _normalize_name(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _columns(cells: list[str], number: int) -> list[str]:
    header: list[str] = []
    for cell in cells:
        column = _ALIASES.get(_normalize_name(cell))
        if column is None:
            raise FileRejected(
                f"Line {number}: unknown column “{cell.strip()}”. The columns are "
                f"{', '.join(TEMPLATE_HEADER)} (separated by ',' or ';'); download the template."
            )
        if column in header:
            raise FileRejected(f"Line {number}: the column “{column}” is named twice.")
        header.append(column)
    if "address" not in header:
        raise FileRejected(f"Line {number}: the header needs an address (or local part) column.")
    return header


def _data_lines(reader: Reader, header: list[str], header_number: int) -> Iterator[Line | Problem]:
    end, count = header_number, 0
    for cells in reader:
        start, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # Excel leaves empty lines (or ";;;;") at the end
        count += 1
        if count > MAX_LINES:
            raise FileRejected(f"The file has more than {MAX_LINES:,} accounts: split it.")
        if len(cells) != len(header):
            yield Problem(
                start, "",
                f"{len(cells)} field{'s' if len(cells) != 1 else ''} where the header has "
                f"{len(header)}: check the delimiter (',' or ';', as in the header) and quotes.",
            )  # fmt: skip
            continue
        yield Line(
            start, {column: cell.strip() for column, cell in zip(header, cells, strict=True)}
        )
