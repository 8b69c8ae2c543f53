"""The one CSV writer of the app: every cell a spreadsheet could run as a formula is kept as text.

Every CSV the app writes goes through `writer` (tests/test_csv_export.py fails on a bare csv.writer).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

# A spreadsheet runs a cell that starts with one of these (also after leading spaces), and some take
# the fullwidth forms for the same; tab and carriage return start a formula in others.
FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
CONTROL_STARTS = ("\t", "\r", "\n")


def safe_cell(value: Any) -> Any:
    """A leading apostrophe keeps a formula-like text cell text; numbers and empty cells are unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(CONTROL_STARTS) or value.lstrip().startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer with every cell passed through safe_cell."""

    def __init__(self, out: Any) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: Any) -> SafeWriter:
    return SafeWriter(out)
