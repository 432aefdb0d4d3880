"""The dashboard's tables as one CSV file (the tables one after another, each under its title)
or as an XLSX workbook (a sheet per table). Text cells are made safe for spreadsheets the same
way as in the answers export."""

from __future__ import annotations

import csv
import io
import re
from typing import IO

from flask_babel import gettext as _
from openpyxl import Workbook

from admin.dashboards.report import Dashboard, Table
from admin.responses.exports import spreadsheet_safe


def _cells(row: list[object]) -> list[object]:
    return [spreadsheet_safe(cell) if isinstance(cell, str) else cell for cell in row]


def _lines(table: Table) -> list[list[object]]:
    return [[table.title], table.columns, *table.rows, *table.footer]


def csv_bytes(tables: list[Table]) -> IO[bytes]:
    """Every table under its title, a blank line between tables; UTF-8 with a byte order mark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for number, table in enumerate(tables):
        if number:
            writer.writerow([])
        for row in _lines(table):
            writer.writerow(["" if cell is None else cell for cell in _cells(row)])
    return io.BytesIO(("\ufeff" + buffer.getvalue()).encode("utf-8"))


def xlsx_file(tables: list[Table]) -> IO[bytes]:
    workbook = Workbook(write_only=True)
    used: set[str] = set()
    for table in tables:
        sheet = workbook.create_sheet(_sheet_name(table.title, used))
        for row in _lines(table):
            sheet.append(_cells(row))
    out = io.BytesIO()
    workbook.save(out)
    out.seek(0)
    return out


_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(title: str, used: set[str]) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of []:*?/\\, unique in the book."""
    base = _NOT_IN_SHEET_NAMES.sub(" ", title).strip()[:28] or "-"
    name, number = base, 1
    while name.lower() in used:
        number += 1
        name = f"{base[: 27 - len(str(number))]} ({number})"
    used.add(name.lower())
    return name


def file_name(dashboard: Dashboard, extension: str) -> str:
    period = dashboard.args.period
    what = _("dashboard")
    where = f"-{dashboard.args.branch}" if dashboard.args.branch else ""
    return f"vertelpaal-{what}{where}-{period.first.isoformat()}-{period.last.isoformat()}.{extension}"
