"""The filtered answers as CSV or XLSX, a batch at a time so that no export is held in memory.

CSV goes out as a generator of lines. XLSX is written by openpyxl in write-only mode into an
anonymous temporary file (openpyxl keeps its own sheet data on disk too), which is then streamed.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import ColumnElement

from admin.models import AnswerKind, ReviewStatus
from admin.responses.labels import MEMBER_LABELS, kind_label, member_label, status_label
from admin.responses.queries import ExportRow, batches, local_zone

Conditions = Sequence[ColumnElement[bool]]

# A cell that starts like a formula is shown as text, never run, by spreadsheet programs.
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def headers() -> list[str]:
    return [
        _("Answer"),
        _("Time"),
        _("Branch"),
        _("Kiosk"),
        _("Questionnaire"),
        _("Version"),
        _("Question"),
        _("Kind"),
        _("Value"),
        _("Label"),
        _("Language"),
        _("Location"),
        _("Activity"),
        _("Member?"),
        _("Tags"),
        _("Notes"),
        _("Status"),
        _("Link"),
    ]


def spreadsheet_safe(text: str) -> str:
    """Text as a spreadsheet shows it and never runs it: no illegal characters, no formula."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    return "'" + text if _FORMULA_START.match(text) else text


def row(answer: ExportRow, link: str, zone_time: datetime, labels: Labels) -> list[Any]:
    """One answer as export cells (text is made safe for spreadsheets; the time stays a datetime)."""
    notes = "\n".join(
        f"{note.author or '?'} ({note.created_at.astimezone(zone_time.tzinfo):%Y-%m-%d %H:%M}): {note.body}"
        for note in answer.notes
    )
    texts = [answer.uuid, answer.branch, answer.kiosk or "", answer.questionnaire]
    cells: list[Any] = [spreadsheet_safe(t) for t in texts]
    cells.insert(1, zone_time)
    cells.append(answer.version)
    cells.extend(
        spreadsheet_safe(t)
        for t in (
            answer.question,
            labels.kinds[answer.kind],
            answer.value or "",
            answer.label or "",
            answer.language,
            answer.location or "",
            answer.activity or "",
            labels.members[answer.member or "none"],
            ", ".join(answer.tags),
            notes,
            labels.statuses[answer.status],
            link,
        )
    )
    return cells


@dataclass(frozen=True)
class Labels:
    """Kind and status names in the user's language, looked up once per export, not per row."""

    kinds: dict[AnswerKind, str]
    statuses: dict[ReviewStatus, str]
    members: dict[str, str]

    @classmethod
    def now(cls) -> Labels:
        return cls(
            {k: kind_label(k) for k in AnswerKind},
            {s: status_label(s) for s in ReviewStatus},
            {m: member_label(m) for m in MEMBER_LABELS},
        )


def _rows(conditions: Conditions, link: Callable[[ExportRow], str]) -> Iterator[list[Any]]:
    zone = local_zone()
    labels = Labels.now()
    for batch in batches(conditions):
        for answer in batch:
            yield row(answer, link(answer), answer.answered_at.astimezone(zone), labels)


def csv_lines(conditions: Conditions, link: Callable[[ExportRow], str]) -> Iterator[str]:
    """The export as CSV text, a line at a time; starts with a byte order mark for spreadsheet programs.

    ``conditions`` come from ``AnswerFilter.conditions`` before streaming starts, while the user
    is still at hand."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(headers())
    yield "\ufeff" + flush()
    for cells in _rows(conditions, link):
        cells[1] = cells[1].isoformat(timespec="seconds")
        writer.writerow(cells)
        yield flush()


def xlsx_file(conditions: Conditions, link: Callable[[ExportRow], str]) -> IO[bytes]:
    """The export as an XLSX workbook in an anonymous temporary file, rewound for reading."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Answers"))
    sheet.append(headers())
    for cells in _rows(conditions, link):
        cells[1] = cells[1].replace(tzinfo=None)  # spreadsheets know no zones: local time
        sheet.append(cells)
    # Handed to the response, which closes it; an anonymous file leaves nothing behind.
    out = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115
    try:
        workbook.save(out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out
