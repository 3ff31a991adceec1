"""CSV cells that a spreadsheet would run as a formula ("CSV injection"), made inert.

Excel and LibreOffice treat a cell starting with = + - @ as a formula, and a leading tab or
carriage return can hide one; a single quote in front makes the cell plain text there. Every
CSV the panel writes for people to open (exports, the passwords of an import) goes through this.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """The cell, prefixed with a single quote when a spreadsheet would read it as a formula."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell
